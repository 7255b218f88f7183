// Command migrate-legacy moves every user of the legacy auth system into
// Ory Kratos, once, and can undo it. The work is done by the packages
// under migrations/legacy; this file is the command line.
//
//	migrate-legacy plan|backup|run|validate|rollback|restore [flags]
//
// `migrate-legacy -help` describes the commands, `migrate-legacy CMD -help`
// a command's flags. For the crash tests, MIGRATE_LEGACY_CRASH_AFTER_BATCH=N
// makes run kill itself (SIGKILL) right after Kratos answered its N-th
// batch, before the answer is stored.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/learnplatform/platform/migrations/legacy/backup"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/migrate"
	"github.com/learnplatform/platform/migrations/legacy/progress"
	"github.com/learnplatform/platform/migrations/legacy/report"
	"github.com/learnplatform/platform/migrations/legacy/rollback"
	"github.com/learnplatform/platform/migrations/legacy/validate"
)

const overview = `migrate-legacy moves every user of the legacy auth system into Ory Kratos,
once, and can undo it.

usage: migrate-legacy <command> [flags]

commands:
  plan      Dry run. Reads the legacy database (and, when given, the platform's
            mapping and Kratos' identities) and reports counts (password
            hashes by format too), every conflict and what would become of
            each user. Writes nothing. On an empty legacy database it says
            so and exits 0.
  backup    Writes the legacy tables and all current Kratos identities to a
            file (-backup), restorable with restore; run requires one.
  run       Migrates: users become Kratos identities through the batch import
            (password hashes Kratos verifies: bcrypt, Argon2, PBKDF2, scrypt,
            crypt, LDAP SSHA and the like, as they are or translated from
            Django's, passlib's and LDAP's layouts; any other hash means
            forced recovery; verified and active state, role, social
            links), login attempts become auth events at their
            original times, platform rows move from legacy ids to identity
            ids. Idempotent (a second run changes nothing) and resumable
            after a crash (checkpoint per batch). Sessions are counted, not
            imported: Kratos cannot import them, users sign in once more.
  validate  Checks that every legacy user is in Kratos exactly once with the
            planned traits, role, credentials and state, that the mapping,
            events and platform rows are complete, and (with -passwords)
            that users with known passwords sign in. Exit 1 when not.
  rollback  Deletes exactly the identities the migration created and undoes
            the platform side. A dry run unless -yes. With -backup it then
            compares Kratos with the backup's identities.
  restore   Loads a backup's legacy tables into a legacy database that has
            no legacy rows (creating the tables when missing).

Typical order: plan, backup, run, validate; rollback to undo.

Every command prints a summary and writes a JSON report (-report; default
migrate-legacy-<command>.json, "-" for standard output). Progress is a bar
when standard output is a terminal, plain lines otherwise.

Exit status: 0 done (validate: valid), 1 failed (validate: invalid),
2 bad usage.

Environment variables give flag defaults: LEGACY_DATABASE_URL,
PLATFORM_DATABASE_URL, KRATOS_ADMIN_URL, KRATOS_PUBLIC_URL.

Run "migrate-legacy <command> -help" for a command's flags.
`

var commands = map[string]string{
	"plan":     "Dry run: counts, conflicts and what would become of every user. Writes nothing.",
	"backup":   "Write the legacy tables and all Kratos identities to -backup FILE.",
	"run":      "Migrate users, social links, roles, login attempts and platform rows. Idempotent, resumable.",
	"validate": "Check the migration; with -passwords, sign in with known passwords. Exit 1 when invalid.",
	"rollback": "Delete the identities the migration created and undo the platform side (dry run unless -yes).",
	"restore":  "Load a backup's legacy tables into a legacy database without legacy rows.",
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, overview)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, overview)
		return 0
	}
	cmd := args[0]
	if _, ok := commands[cmd]; !ok {
		fmt.Fprintf(stderr, "migrate-legacy: unknown command %q\n\n%s", cmd, overview)
		return 2
	}

	fs := flag.NewFlagSet("migrate-legacy "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := os.Getenv
	var (
		legacyDSN, platformDSN, kratosAdmin, publicURL, backupFile, reportFile, passwords, providers, schemaID string
		batchSize, parallel, workers                                                                           int
		yes, force, noBackupCheck                                                                              bool
	)
	uses := map[string][]string{
		"legacy-dsn":      {"plan", "backup", "run", "validate", "restore"},
		"platform-dsn":    {"plan", "backup", "run", "validate", "rollback"},
		"kratos-admin":    {"plan", "backup", "run", "validate", "rollback"},
		"backup":          {"backup", "rollback", "restore"},
		"force":           {"backup"},
		"batch-size":      {"run"},
		"parallel":        {"run"},
		"schema-id":       {"run"},
		"no-backup-check": {"run"},
		"providers":       {"plan", "run", "validate"},
		"public-url":      {"validate"},
		"passwords":       {"validate"},
		"workers":         {"validate", "rollback"},
		"yes":             {"rollback"},
	}
	has := func(name string) bool {
		for _, c := range uses[name] {
			if c == cmd {
				return true
			}
		}
		return false
	}
	if has("legacy-dsn") {
		fs.StringVar(&legacyDSN, "legacy-dsn", env("LEGACY_DATABASE_URL"), "PostgreSQL URL of the legacy auth database, read only (env LEGACY_DATABASE_URL)")
	}
	if has("platform-dsn") {
		help := "PostgreSQL URL of the platform database: mapping, checkpoints, auth event log, tutor rows (env PLATFORM_DATABASE_URL)"
		if cmd == "plan" {
			help += "; optional: without it the plan does not know who is migrated already"
		}
		fs.StringVar(&platformDSN, "platform-dsn", env("PLATFORM_DATABASE_URL"), help)
	}
	if has("kratos-admin") {
		help := "Kratos admin API URL, e.g. http://127.0.0.1:4434/ (env KRATOS_ADMIN_URL)"
		if cmd == "plan" {
			help += "; optional: without it the plan does not know which emails Kratos has"
		}
		fs.StringVar(&kratosAdmin, "kratos-admin", env("KRATOS_ADMIN_URL"), help)
	}
	if has("backup") {
		help := map[string]string{
			"backup":   "file to write the backup to (gzip-compressed JSON lines); must not exist unless -force",
			"rollback": "a backup file: after the rollback, compare Kratos' identities with the backup's",
			"restore":  "backup file to load",
		}[cmd]
		fs.StringVar(&backupFile, "backup", "", help)
	}
	if has("force") {
		fs.BoolVar(&force, "force", false, "overwrite an existing backup file")
	}
	if has("batch-size") {
		fs.IntVar(&batchSize, "batch-size", kratos.MaxBatch, fmt.Sprintf("identities per Kratos batch import request, 1 to %d", kratos.MaxBatch))
	}
	if has("parallel") {
		fs.IntVar(&parallel, "parallel", 2, "batch imports in flight at once, 1 to 16 (Kratos checks one batch on one core)")
	}
	if has("schema-id") {
		fs.StringVar(&schemaID, "schema-id", "default", "Kratos identity schema id of the new identities")
	}
	if has("no-backup-check") {
		fs.BoolVar(&noBackupCheck, "no-backup-check", false, "run even though no backup of this legacy database is recorded")
	}
	if has("providers") {
		fs.StringVar(&providers, "providers", "google=google,github=github",
			"legacy oauth_accounts.provider=Kratos OIDC provider id, comma separated; other providers are reported, not imported")
	}
	if has("public-url") {
		fs.StringVar(&publicURL, "public-url", env("KRATOS_PUBLIC_URL"), "Kratos public API, or the identity edge in front of it, for -passwords sign-ins (env KRATOS_PUBLIC_URL)")
	}
	if has("passwords") {
		fs.StringVar(&passwords, "passwords", "", "file of email<TAB>password lines: each must sign in (API flow) as its migrated identity")
	}
	if has("workers") {
		fs.IntVar(&workers, "workers", 8, "Kratos requests at a time (sign-ins, deletions)")
	}
	if has("yes") {
		fs.BoolVar(&yes, "yes", false, "really delete; without it rollback only reports what it would do")
	}
	fs.StringVar(&reportFile, "report", "migrate-legacy-"+cmd+".json", `JSON report file ("-": standard output, the summary then goes to standard error)`)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: migrate-legacy %s [flags]\n\n%s\n\nflags:\n", cmd, commands[cmd])
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output())
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fs.SetOutput(stdout) // asked for: help is the answer, not an error
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "migrate-legacy %s: %s\n", cmd, fmt.Sprintf(format, a...))
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	need := func(v, flagName, envName string) error {
		if v == "" {
			if envName != "" {
				return fmt.Errorf("-%s (or %s) is required", flagName, envName)
			}
			return fmt.Errorf("-%s is required", flagName)
		}
		return nil
	}
	var missing []error
	switch cmd {
	case "plan":
		missing = append(missing, need(legacyDSN, "legacy-dsn", "LEGACY_DATABASE_URL"))
	case "backup":
		missing = append(missing, need(legacyDSN, "legacy-dsn", "LEGACY_DATABASE_URL"), need(platformDSN, "platform-dsn", "PLATFORM_DATABASE_URL"),
			need(kratosAdmin, "kratos-admin", "KRATOS_ADMIN_URL"), need(backupFile, "backup", ""))
	case "run", "validate":
		missing = append(missing, need(legacyDSN, "legacy-dsn", "LEGACY_DATABASE_URL"), need(platformDSN, "platform-dsn", "PLATFORM_DATABASE_URL"),
			need(kratosAdmin, "kratos-admin", "KRATOS_ADMIN_URL"))
	case "rollback":
		missing = append(missing, need(platformDSN, "platform-dsn", "PLATFORM_DATABASE_URL"), need(kratosAdmin, "kratos-admin", "KRATOS_ADMIN_URL"))
	case "restore":
		missing = append(missing, need(legacyDSN, "legacy-dsn", "LEGACY_DATABASE_URL"), need(backupFile, "backup", ""))
	}
	if err := errors.Join(missing...); err != nil {
		return usage("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if has("batch-size") && (batchSize < 1 || batchSize > kratos.MaxBatch) {
		return usage("-batch-size %d: want 1 to %d (Kratos takes at most %d identities per request)", batchSize, kratos.MaxBatch, kratos.MaxBatch)
	}
	if has("parallel") && (parallel < 1 || parallel > 16) {
		return usage("-parallel %d: want 1 to 16", parallel)
	}
	if has("workers") && (workers < 1 || workers > 64) {
		return usage("-workers %d: want 1 to 64", workers)
	}
	if cmd == "validate" && passwords != "" && publicURL == "" {
		return usage("-passwords needs -public-url (or KRATOS_PUBLIC_URL)")
	}
	providerMap, err := parseProviders(providers)
	if err != nil {
		return usage("-providers: %v", err)
	}
	if err := report.CheckWritable(reportFile); err != nil {
		return usage("%v", err)
	}

	out := stdout
	terminal := false
	if f, ok := stdout.(*os.File); ok {
		terminal = progress.IsTerminal(f)
	}
	if reportFile == "-" {
		out = stderr
		terminal = false
		if f, ok := stderr.(*os.File); ok {
			terminal = progress.IsTerminal(f)
		}
	}
	m := &migrate.Migrator{
		LegacyDSN: legacyDSN, PlatformDSN: platformDSN, BatchSize: batchSize, Parallel: parallel, Providers: providerMap,
		Out: out, Terminal: terminal, RequireBackup: !noBackupCheck,
		PublicURL: publicURL, PasswordsFile: passwords, Workers: workers,
	}
	if kratosAdmin != "" {
		k, err := kratos.New(kratosAdmin)
		if err != nil {
			return usage("-kratos-admin: %v", err)
		}
		if schemaID != "" {
			k.SchemaID = schemaID
		}
		m.Kratos = k
	}
	if n, _ := strconv.Atoi(os.Getenv("MIGRATE_LEGACY_CRASH_AFTER_BATCH")); n > 0 {
		m.AfterKratosAnswer = func(batch int) {
			if batch == n {
				fmt.Fprintf(out, "MIGRATE_LEGACY_CRASH_AFTER_BATCH=%d: killing myself before storing batch %d's answer\n", n, batch)
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var r *report.Report
	switch cmd {
	case "plan":
		r, err = m.Plan(ctx)
	case "backup":
		r, err = backup.Write(ctx, m, backupFile, force)
	case "run":
		r, err = m.Run(ctx)
	case "validate":
		r, err = validate.Run(ctx, m)
	case "rollback":
		r, err = rollback.Run(ctx, m, yes, backupFile)
	case "restore":
		r, err = backup.Restore(ctx, m, backupFile)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w): run the command again to go on from where it stopped", err)
		}
		failed := report.Failed(cmd, err)
		_ = failed.WriteJSON(reportFile, stdout)
		fmt.Fprintf(stderr, "migrate-legacy %s: %v\n", cmd, err)
		return 1
	}
	if err := r.WriteJSON(reportFile, stdout); err != nil {
		fmt.Fprintf(stderr, "migrate-legacy %s: %v\n", cmd, err)
		return 1
	}
	r.WriteSummary(out)
	if reportFile != "-" {
		fmt.Fprintf(out, "report: %s\n", reportFile)
	}
	if r.Outcome == "invalid" {
		return 1
	}
	return 0
}

// parseProviders reads "legacy=kratos,..." pairs.
func parseProviders(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
		from, to = strings.ToLower(strings.TrimSpace(from)), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("%q: want legacy=kratos", pair)
		}
		out[from] = to
	}
	return out, nil
}
