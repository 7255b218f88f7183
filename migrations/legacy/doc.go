// Package legacy moves every user of the hand-written auth system that the
// platform replaces into Ory Kratos, once, and can undo it.
//
// The root of the package is the domain: the legacy rows (User, Dataset),
// the deterministic decision of what becomes of each of them (BuildPlan,
// Plan, Conflict) and the report. The dependencies sit in their own files:
// source.go reads the legacy PostgreSQL database (never writes it),
// kratos.go speaks Kratos' admin API, platform.go keeps the run's state,
// the legacy id → identity id mapping and the rewritten platform rows in
// the platform database. Migrator (run.go, validate.go, rollback.go,
// backup.go) puts them together; cmd/migrate-legacy is the command line.
//
// Decisions are made from the legacy data alone, in a fixed order, so the
// same legacy database always gives the same plan, and a run interrupted
// at any point and started again ends in the same state as one that was
// not: each batch sent to Kratos is checkpointed in the platform database
// before it leaves and after its answer is stored, and identities of a
// batch whose answer was lost are found by their email (carrying
// metadata_admin.legacy_id) before anything is created again.
package legacy
