package plugins

import plugin "github.com/hashicorp/go-plugin"

// ProtocolVersion is the version of the contracts in plugins/proto. It goes
// up when a change breaks existing plugins; the host refuses a plugin built
// for another version with go-plugin's "incompatible API version" message.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake between the tutor and its plugins.
// The magic cookie only tells a plugin binary it was started by the host
// (run by hand it explains itself and exits); it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "LEARNPLATFORM_TUTOR_PLUGIN",
	MagicCookieValue: "retriever-guardrail",
}

// The names under which the plugin kinds are dispensed.
const (
	KindRetriever = "retriever"
	KindGuardrail = "guardrail"
)

// PluginSet lists both kinds; hosts and Serve use it.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		KindRetriever: &RetrieverPlugin{},
		KindGuardrail: &GuardrailPlugin{},
	}
}
