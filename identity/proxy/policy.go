package proxy

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/pages"
	"github.com/learnplatform/platform/kit/kratos"
)

// enforcePassword checks a new password against the policy before Kratos
// sees it. It answers the request itself and returns false when the request
// must not go on: nothing reaches Kratos, so nothing is stored.
func (p *Proxy) enforcePassword(w http.ResponseWriter, r *http.Request, kind kratos.Kind, sub *submission) bool {
	if sub.method != "password" || sub.password == nil {
		return true
	}
	violations := p.opts.Password.Check(*sub.password)
	if len(violations) == 0 {
		return true
	}
	f, err := p.opts.Kratos.Flow(r.Context(), kind, r.URL.Query().Get("flow"), r.Header.Get("Cookie"), r.Header.Get("X-Session-Token"))
	if err != nil {
		// Without the flow there is no form to return; say what was wrong
		// and, in a browser, start over.
		if edge.WantsJSON(r) {
			writePolicyError(w, violations)
			return false
		}
		var texts []string
		for _, v := range violations {
			texts = append(texts, v.Text)
		}
		p.opts.Pages.Restart(w, r, kind, "", kratos.Text{ID: pages.MsgFlowRestarted, Type: "error", Text: strings.Join(texts, " ")})
		return false
	}
	refill(f, sub)
	for _, v := range violations {
		p.refused.WithLabelValues(v.Rule).Inc()
		f.AddMessage("password", kratos.Text{ID: v.ID, Type: "error", Text: v.Text, Context: map[string]any{"rule": v.Rule}})
	}
	p.opts.Logger.Info("password refused by policy", "flow", f.ID, "kind", kind, "rules", ruleNames(violations))
	if edge.WantsJSON(r) || !f.IsBrowser() {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(f)
		return false
	}
	p.opts.Pages.ShowFlow(w, r, http.StatusBadRequest, f)
	return false
}

// refill puts what the user typed back into the form, never secrets.
func refill(f *kratos.Flow, sub *submission) {
	flat := map[string]any{}
	flatten("", sub.values, flat)
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		name := n.Name()
		if n.Type != "input" || name == "password" || name == "csrf_token" || n.InputType() == "submit" || n.InputType() == "hidden" {
			continue
		}
		if v, ok := flat[name]; ok {
			n.SetValue(v)
		}
	}
}

// flatten turns {"traits":{"email":"x"}} into {"traits.email":"x"}, the
// names Kratos gives its inputs; form posts are flat already.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, c := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		flatten(key, c, out)
	}
}

func ruleNames(vs []identity.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule
	}
	return out
}

func writePolicyError(w http.ResponseWriter, vs []identity.Violation) {
	type rule struct {
		Rule string `json:"rule"`
		ID   int64  `json:"id"`
		Text string `json:"text"`
	}
	body := struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Rules   []rule `json:"rules"`
		} `json:"error"`
	}{}
	body.Error.Code = "password_policy"
	body.Error.Message = "The password does not meet the password policy."
	for _, v := range vs {
		body.Error.Rules = append(body.Error.Rules, rule{v.Rule, v.ID, v.Text})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(body)
}
