package legacy

import "testing"

func TestValidEmail(t *testing.T) {
	for _, e := range []string{"a@e.org", "a.b+c@sub.e.org", "x@localhost", "o'neil@e.org"} {
		if !ValidEmail(e) {
			t.Errorf("ValidEmail(%q) = false", e)
		}
	}
}
