package plugins

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// SDKVersion is this SDK's version, as an integrator's go.mod requires it
// (github.com/learnplatform/platform/plugins SDKVersion). docs/plugins.md
// ("Versions") says which tutor speaks which ProtocolVersion and which SDK
// versions build plugins for it.
const SDKVersion = "v1.1.0"

// Capabilities a plugin announces in its Configure answer (gRPC response
// header CapabilitiesHeader). A host that finds the header trusts it; one
// that does not (a plugin built with SDK v1.0.0, or in another language
// without it) asks and takes an UNIMPLEMENTED answer as "no".
const (
	// CapabilityIngest: the retriever is fed by `tutor ingest` (Ingester).
	CapabilityIngest = "ingest"
	// CapabilityHealth: the plugin has a health check of its own
	// (HealthChecker).
	CapabilityHealth = "health"
)

// Response headers of Configure. SDKHeader carries the SDK version the
// plugin was built with, for the host's log and `tutor plugins check`.
const (
	CapabilitiesHeader = "learnplatform-capabilities"
	SDKHeader          = "learnplatform-sdk"
)

// Info is what a plugin said about itself when it was configured.
type Info struct {
	// Known is false when the plugin sent no capabilities header: then
	// nothing can be concluded from Capabilities.
	Known bool
	// Capabilities are CapabilityIngest, CapabilityHealth...
	Capabilities []string
	// SDK is the plugin's SDK version ("" when it did not say).
	SDK string
}

// Has reports whether the plugin announced capability c. Without any
// announcement (Known false) it reports true: the host then asks.
func (i Info) Has(c string) bool {
	if !i.Known {
		return true
	}
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// capabilitiesOf lists what impl implements.
func capabilitiesOf(impl any) []string {
	var cs []string
	if _, ok := impl.(Ingester); ok {
		cs = append(cs, CapabilityIngest)
	}
	if _, ok := impl.(HealthChecker); ok {
		cs = append(cs, CapabilityHealth)
	}
	return cs
}

// announce sets Configure's response headers for impl.
func announce(ctx context.Context, impl any) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(CapabilitiesHeader, strings.Join(capabilitiesOf(impl), ","), SDKHeader, SDKVersion))
}

// infoFrom reads Configure's response headers.
func infoFrom(md metadata.MD) Info {
	var i Info
	if v := md.Get(SDKHeader); len(v) > 0 {
		i.SDK = v[0]
	}
	v := md.Get(CapabilitiesHeader)
	if len(v) == 0 {
		return i
	}
	i.Known = true
	for _, s := range strings.Split(strings.Join(v, ","), ",") {
		if s = strings.TrimSpace(s); s != "" {
			i.Capabilities = append(i.Capabilities, s)
		}
	}
	return i
}
