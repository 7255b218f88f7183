// Package plan decides, from the legacy data alone, what becomes of every
// legacy user (Build): which users merge into one identity, which are
// skipped, what password, role, state and social links each identity gets,
// and every conflict met on the way. The same legacy data always gives the
// same plan. The commands (migrate, validate) build it from what
// source reads; Tally counts it for the report.
package plan
