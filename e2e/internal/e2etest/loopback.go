package e2etest

import (
	"crypto/rand"
	"net"
	"net/http"
	"testing"
)

// UniqueLoopback returns an address in 127.0.0.0/8 other than 127.0.0.1,
// random per call. On Linux every such address reaches the stack's
// 127.0.0.1 listeners, so a client dialling from it (NewClientFrom) is, to
// the edge, a client of its own: its per-address throttle does not touch
// other tests' 127.0.0.1.
func UniqueLoopback() string {
	var b [3]byte
	rand.Read(b[:])
	if b[0] == 0 {
		b[0] = 1 // never 127.0.x.x: keeps clear of 127.0.0.1
	}
	return net.IPv4(127, b[0], b[1], b[2]).String()
}

// NewClientFrom is NewClient with its connections made from the local
// address ip (one of UniqueLoopback's).
func NewClientFrom(t testing.TB, ip string) *Client {
	c := NewClient(t)
	local := &net.TCPAddr{IP: net.ParseIP(ip)}
	if local.IP == nil {
		t.Fatalf("NewClientFrom: %q is not an IP address", ip)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: local}).DialContext
	c.HTTP.Transport = tr
	return c
}
