package kratos

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind is a self-service flow kind.
type Kind string

// The flow kinds the hosted UI renders.
const (
	Login        Kind = "login"
	Registration Kind = "registration"
	Verification Kind = "verification"
	Recovery     Kind = "recovery"
	Settings     Kind = "settings"
)

// Kinds lists every kind, in the order pages are listed.
var Kinds = []Kind{Login, Registration, Verification, Recovery, Settings}

// Text is a Kratos UI message (UiText).
type Text struct {
	ID      int64          `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

// IsError reports whether the message is an error.
func (t Text) IsError() bool { return t.Type == "error" }

// Meta carries a node's label.
type Meta struct {
	Label *Text `json:"label,omitempty"`
}

// Node is one UI node. Attributes stay a generic map so every attribute
// Kratos sends survives re-encoding, including ones this code does not know.
type Node struct {
	Type       string         `json:"type"`
	Group      string         `json:"group"`
	Attributes map[string]any `json:"attributes"`
	Messages   []Text         `json:"messages"`
	Meta       Meta           `json:"meta"`
}

func (n *Node) attr(key string) string {
	switch v := n.Attributes[key].(type) {
	case string:
		return v
	case nil:
		return ""
	case float64, bool:
		return fmt.Sprint(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (n *Node) flag(key string) bool {
	b, _ := n.Attributes[key].(bool)
	return b
}

// Name is an input's name.
func (n *Node) Name() string { return n.attr("name") }

// InputType is an input's type (text, email, password, hidden, submit, ...).
func (n *Node) InputType() string { return n.attr("type") }

// Value is an input's value as text.
func (n *Node) Value() string { return n.attr("value") }

// Required reports an input's required attribute.
func (n *Node) Required() bool { return n.flag("required") }

// Disabled reports an input's disabled attribute.
func (n *Node) Disabled() bool { return n.flag("disabled") }

// Autocomplete is an input's autocomplete hint.
func (n *Node) Autocomplete() string { return n.attr("autocomplete") }

// Pattern is an input's pattern.
func (n *Node) Pattern() string { return n.attr("pattern") }

// Maxlength is an input's maxlength, or "".
func (n *Node) Maxlength() string { return n.attr("maxlength") }

// Href is an anchor's target.
func (n *Node) Href() string { return n.attr("href") }

// Src is an image's source.
func (n *Node) Src() string { return n.attr("src") }

// ID is the id attribute of text, anchor and image nodes.
func (n *Node) ID() string { return n.attr("id") }

// AttrText returns a text-valued attribute (a text node's "text", an
// anchor's "title") as a Text.
func (n *Node) AttrText(key string) *Text {
	m, ok := n.Attributes[key].(map[string]any)
	if !ok {
		return nil
	}
	b, _ := json.Marshal(m)
	var t Text
	if json.Unmarshal(b, &t) != nil {
		return nil
	}
	return &t
}

// Label is the node's label text.
func (n *Node) Label() string {
	if n.Meta.Label != nil {
		return n.Meta.Label.Text
	}
	return ""
}

// SetValue sets an input's value (to keep what the user typed).
func (n *Node) SetValue(v any) { n.Attributes["value"] = v }

// UI is a flow's form: where it posts, its nodes and flow-level messages.
type UI struct {
	Action   string `json:"action"`
	Method   string `json:"method"`
	Nodes    []Node `json:"nodes"`
	Messages []Text `json:"messages,omitempty"`
}

// Find returns the first input node named name, or nil.
func (u *UI) Find(name string) *Node {
	for i := range u.Nodes {
		if u.Nodes[i].Name() == name {
			return &u.Nodes[i]
		}
	}
	return nil
}

// Flow is a self-service flow of any kind.
type Flow struct {
	Kind      Kind      `json:"-"`
	ID        string    `json:"id"`
	Type      string    `json:"type"` // browser or api
	State     string    `json:"state,omitempty"`
	ReturnTo  string    `json:"return_to,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	UI        UI        `json:"ui"`

	// fields keeps everything Kratos sent, so MarshalJSON answers API
	// clients with Kratos' own shape.
	fields map[string]json.RawMessage
}

// decodeFlow reads a flow from Kratos' JSON.
func decodeFlow(kind Kind, raw []byte) (*Flow, error) {
	f := &Flow{Kind: kind}
	if err := json.Unmarshal(raw, &f.fields); err != nil {
		return nil, fmt.Errorf("kratos: %s flow: %w", kind, err)
	}
	type plain Flow // no MarshalJSON/UnmarshalJSON recursion
	if err := json.Unmarshal(raw, (*plain)(f)); err != nil {
		return nil, fmt.Errorf("kratos: %s flow: %w", kind, err)
	}
	return f, nil
}

// MarshalJSON re-encodes the flow as Kratos sent it, with the UI as it is now.
func (f *Flow) MarshalJSON() ([]byte, error) {
	out := make(map[string]json.RawMessage, len(f.fields)+1)
	for k, v := range f.fields {
		out[k] = v
	}
	ui, err := json.Marshal(f.UI)
	if err != nil {
		return nil, err
	}
	out["ui"] = ui
	return json.Marshal(out)
}

// IsBrowser reports whether the flow belongs to a browser (not a native app).
func (f *Flow) IsBrowser() bool { return f.Type == "browser" }

// AddMessage appends a message to the input named name, or to the flow if
// there is no such input.
func (f *Flow) AddMessage(name string, t Text) {
	if n := f.UI.Find(name); n != nil {
		n.Messages = append(n.Messages, t)
		return
	}
	f.UI.Messages = append(f.UI.Messages, t)
}

// HasMessage reports whether any node or the flow carries message id.
func (f *Flow) HasMessage(id int64) bool {
	for _, m := range f.UI.Messages {
		if m.ID == id {
			return true
		}
	}
	for _, n := range f.UI.Nodes {
		for _, m := range n.Messages {
			if m.ID == id {
				return true
			}
		}
	}
	return false
}

// IdentityID is the id of the identity a settings flow belongs to, or "".
func (f *Flow) IdentityID() string {
	var id struct {
		ID string `json:"id"`
	}
	if raw, ok := f.fields["identity"]; ok && json.Unmarshal(raw, &id) == nil {
		return id.ID
	}
	return ""
}
