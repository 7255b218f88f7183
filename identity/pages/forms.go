package pages

import (
	"slices"
	"strings"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/kit/kratos"
)

// form is one <form> of a flow page: Kratos puts every method of a flow in
// one node list; the page shows one form per method group so that, say,
// saving a name does not demand a password.
type form struct {
	Group   string
	Title   string
	Action  string
	Method  string
	Hidden  []kratos.Node
	Fields  []field
	Submits []kratos.Node
	Texts   []kratos.Node // text, anchor and image nodes
	// Remember shows the edge's own "keep me signed in" checkbox.
	Remember bool
}

// field is a visible input with the ids that tie label, input and messages.
type field struct {
	kratos.Node
	InputID  string
	DescID   string
	Rules    []identity.Rule // the strength meter's rules, on new-password inputs
	RulesID  string
	HasError bool
}

// groupOrder is the order forms appear in.
var groupOrder = []string{"profile", "password", "code", "link", "totp", "lookup_secret", "webauthn", "passkey", "oidc", "default"}

func groupTitle(kind kratos.Kind, group string) string {
	switch group {
	case "oidc":
		if kind == kratos.Settings {
			return "Linked sign-in methods"
		}
		return "Or continue with"
	case "profile":
		return "Profile"
	case "password":
		if kind == kratos.Settings {
			return "Change password"
		}
	}
	return ""
}

// buildForms splits a flow's nodes into forms. Hidden default-group inputs
// (the CSRF token) go into every form; visible default-group inputs (the
// login identifier) go into the first form that is not a social button row.
func buildForms(f *kratos.Flow, rules []identity.Rule) []form {
	var hidden, sharedVisible []kratos.Node
	byGroup := map[string][]kratos.Node{}
	for _, n := range f.UI.Nodes {
		if n.Group == "default" {
			if n.Type == "input" && n.InputType() == "hidden" {
				hidden = append(hidden, n)
			} else {
				sharedVisible = append(sharedVisible, n)
			}
			continue
		}
		byGroup[n.Group] = append(byGroup[n.Group], n)
	}
	var groups []string
	for _, g := range groupOrder {
		if len(byGroup[g]) > 0 {
			groups = append(groups, g)
		}
	}
	for g := range byGroup { // groups this code does not know yet still show
		if !slices.Contains(groupOrder, g) {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 && len(sharedVisible) > 0 {
		groups = []string{"default"}
	}

	var forms []form
	placed := false
	for _, g := range groups {
		fm := form{Group: g, Title: groupTitle(f.Kind, g), Action: f.UI.Action, Method: strings.ToLower(f.UI.Method),
			Remember: f.Kind == kratos.Login && g == "password"}
		fm.Hidden = append(fm.Hidden, hidden...)
		nodes := byGroup[g]
		if !placed && g != "oidc" {
			nodes = append(append([]kratos.Node{}, sharedVisible...), nodes...)
			placed = true
		}
		for _, n := range nodes {
			switch {
			case n.Type != "input":
				fm.Texts = append(fm.Texts, n)
			case n.InputType() == "hidden":
				fm.Hidden = append(fm.Hidden, n)
			case n.InputType() == "submit" || n.InputType() == "button":
				fm.Submits = append(fm.Submits, n)
			default:
				fm.Fields = append(fm.Fields, newField(f, n, rules))
			}
		}
		forms = append(forms, fm)
	}
	return forms
}

func newField(f *kratos.Flow, n kratos.Node, rules []identity.Rule) field {
	id := "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(n.Group+"-"+n.Name())
	fl := field{Node: n, InputID: id, DescID: id + "-msg"}
	for _, m := range n.Messages {
		if m.IsError() {
			fl.HasError = true
		}
	}
	// New passwords are chosen on registration and settings; a sign-in
	// password is not, so the rules are not shown there.
	if n.InputType() == "password" && n.Name() == "password" && (f.Kind == kratos.Registration || f.Kind == kratos.Settings) {
		fl.Rules = rules
		fl.RulesID = id + "-rules"
	}
	return fl
}
