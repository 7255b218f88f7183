package legacy

// UserTable is a platform table with a column holding a user id: before
// the migration a legacy user id, after it the Kratos identity id.
type UserTable struct {
	Table  string
	Column string
	// Key are the columns that, with Column, identify one row of a user
	// (the rest of the primary key, or the row's own id). Rollback finds a
	// rewritten row again by them, so they must not change after the run.
	Key []string
	// Unique is true when (Column, Key...) is unique in the table: then two
	// merged legacy users' rows with the same key cannot both move to the
	// one identity, and the second is left in place and reported.
	Unique bool
}

// UserTables is the one list of platform rows that refer to users. A run
// rewrites each of these columns from legacy id to identity id (as text,
// the tutor's user_id type) in one transaction, and rollback undoes it.
//
// When a service adds a table with a user id, add it here (plan and
// validate warn about any platform column named user_id, or ending in
// _user_id, that this list does not name). auth_event_log.identity_id is
// not here: it has always held Kratos identity ids.
var UserTables = []UserTable{
	{Table: "tutor_enrollments", Column: "user_id", Key: []string{"course"}, Unique: true},
	{Table: "tutor_threads", Column: "user_id", Key: []string{"id"}},
	{Table: "tutor_message_quota", Column: "user_id", Key: []string{"sent_at"}},
	{Table: "ai_usage_metric", Column: "user_id", Key: []string{"day"}, Unique: true},
	{Table: "tutor_feedback", Column: "user_id", Key: []string{"item_id"}, Unique: true},
}
