// Package legacy moves every user of the hand-written auth system that the
// platform replaces into Ory Kratos, once, and can undo it.
//
// This root package is the domain, shared by the packages below it: the
// legacy rows (User, Dataset, Counts, LoginAttempt, the legacy Schema),
// the identities the migration creates (Identity, Link, MetadataAdmin),
// the conflicts it meets and what it does about each (Conflict,
// RunConflict), the platform tables that hold user ids (UserTables) and
// how emails compare (NormalizeEmail, ValidEmail).
//
// The work is done below it, one package per responsibility:
//
//   - hashes: what becomes of a legacy password hash (Kratos verifies it as
//     is or translated, or the user goes to forced recovery);
//   - plan: the deterministic decision of what becomes of each legacy user;
//   - source: reading the legacy PostgreSQL database (never writing it);
//   - platform: the migration's state in the platform database (mapping,
//     checkpoints, conflicts, copied login attempts, rewritten rows);
//   - kratos: the client of Kratos' admin API;
//   - migrate: the Migrator (settings) and the commands plan and run;
//   - backup, validate, rollback: the other commands;
//   - report, progress, privatefile: what the commands show and write.
//
// cmd/migrate-legacy is the command line; legacyfixture builds legacy
// databases for the tests.
//
// Decisions are made from the legacy data alone, in a fixed order, so the
// same legacy database always gives the same plan, and a run interrupted
// at any point and started again ends in the same state as one that was
// not: each batch sent to Kratos is checkpointed in the platform database
// before it leaves and after its answer is stored, and identities of a
// batch whose answer was lost are found by their email (carrying
// metadata_admin.legacy_id) before anything is created again.
package legacy
