package memstore_test

import (
	"testing"

	"github.com/learnplatform/platform/tutor/memstore"
	"github.com/learnplatform/platform/tutor/memstore/storetest"
)

// The in-memory store keeps the ThreadStore promises the PostgreSQL store
// keeps (tutor/postgres runs the same checks).
func TestThreadStore(t *testing.T) {
	storetest.Run(t, memstore.New())
}
