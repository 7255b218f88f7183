package pages

import (
	"slices"
	"testing"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/kit/kratos"
)

func node(group, name, typ string) kratos.Node {
	return kratos.Node{Type: "input", Group: group, Attributes: map[string]any{"name": name, "type": typ}}
}

// A flow's nodes become one form per method group, in a fixed order: the
// CSRF token in every form, the shared identifier in the first form that
// is not the social row, the "keep me signed in" box on the login
// password form, and the password rules on new passwords only.
func TestBuildForms(t *testing.T) {
	nodes := []kratos.Node{
		node("oidc", "provider", "submit"),
		node("default", "csrf_token", "hidden"),
		node("default", "identifier", "text"),
		node("password", "password", "password"),
		node("password", "method", "submit"),
		node("code", "method", "submit"),
		{Type: "text", Group: "newgroup", Attributes: map[string]any{"id": "t"}},
	}
	rules := identity.DefaultPolicy().PasswordPolicy.Active().Rules()
	groups := func(fs []form) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Group)
		}
		return out
	}

	login := buildForms(&kratos.Flow{Kind: kratos.Login, UI: kratos.UI{Action: "/a", Method: "POST", Nodes: nodes}}, rules)
	if got := groups(login); !slices.Equal(got, []string{"password", "code", "oidc", "newgroup"}) {
		t.Fatalf("groups %v", got)
	}
	for _, f := range login {
		if len(f.Hidden) == 0 || f.Hidden[0].Name() != "csrf_token" || f.Method != "post" || f.Action != "/a" {
			t.Fatalf("%s: hidden %v, %s %s", f.Group, f.Hidden, f.Method, f.Action)
		}
		if f.Remember != (f.Group == "password") {
			t.Fatalf("%s: remember %v", f.Group, f.Remember)
		}
	}
	pw := login[0]
	if len(pw.Fields) != 2 || pw.Fields[0].Name() != "identifier" || pw.Fields[1].Name() != "password" || len(pw.Fields[1].Rules) != 0 {
		t.Fatalf("password form fields %+v", pw.Fields)
	}
	if len(login[3].Texts) != 1 || login[2].Title != "Or continue with" {
		t.Fatalf("texts %v, oidc title %q", login[3].Texts, login[2].Title)
	}

	reg := buildForms(&kratos.Flow{Kind: kratos.Registration, UI: kratos.UI{Nodes: nodes}}, rules)
	if f := reg[0].Fields[1]; len(f.Rules) != len(rules) || f.RulesID != "f-password-password-rules" || reg[0].Remember {
		t.Fatalf("registration password field %+v", f)
	}
	settings := buildForms(&kratos.Flow{Kind: kratos.Settings, UI: kratos.UI{Nodes: nodes}}, rules)
	if settings[0].Title != "Change password" || settings[2].Title != "Linked sign-in methods" {
		t.Fatalf("settings titles %q %q", settings[0].Title, settings[2].Title)
	}

	only := buildForms(&kratos.Flow{Kind: kratos.Verification, UI: kratos.UI{Nodes: []kratos.Node{node("default", "email", "email")}}}, nil)
	if len(only) != 1 || only[0].Group != "default" || len(only[0].Fields) != 1 {
		t.Fatalf("default-only flow %+v", only)
	}
}

func TestFieldMarksErrors(t *testing.T) {
	n := node("password", "password", "password")
	n.Messages = []kratos.Text{{ID: 4000901, Type: "error", Text: "too short"}}
	f := newField(&kratos.Flow{Kind: kratos.Login}, n, nil)
	if !f.HasError || f.InputID != "f-password-password" || f.DescID != "f-password-password-msg" {
		t.Fatalf("%+v", f)
	}
}
