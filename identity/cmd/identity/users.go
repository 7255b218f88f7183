package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/config"
	"github.com/learnplatform/platform/identity/postgres"
	"github.com/learnplatform/platform/kit/account"
	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/revocation"
)

const usersUsage = `usage: identity users set-role [-config identity.yml] EMAIL student|instructor|admin
       identity users set-state [-config identity.yml] EMAIL active|inactive

Both talk to Kratos' admin API directly (no token needed, only the admin
port) and revoke the user's access tokens in the platform database, which
IDENTITY_DATABASE_URL names: tokens issued before a role change carry the
old role, and a deactivated user's tokens must stop working at once.
set-state inactive also ends the user's Kratos and Hydra sessions.
`

// users is the operators' command line: bootstrap the first admin, change
// roles and deactivate users without a token. Exit status: 0 done, 1 not
// (or not completely) done, 2 bad usage or configuration.
func users(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "identity: "+format+"\n", a...)
		return code
	}
	if len(args) == 0 || args[0] != "set-role" && args[0] != "set-state" {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def, _ := lookupEnv("IDENTITY_CONFIG")
	if def == "" {
		def = "identity.yml"
	}
	path := fs.String("config", def, "the identity service's configuration file")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 2 {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	email, value := identity.NormalizeIdentifier(fs.Arg(0)), fs.Arg(1)
	switch {
	case cmd == "set-role" && !account.KnownRole(value):
		return fail(2, "role must be one of %s, got %q", strings.Join(account.Roles, ", "), value)
	case cmd == "set-state" && value != identity.StateActive && value != identity.StateInactive:
		return fail(2, "state must be %s or %s, got %q", identity.StateActive, identity.StateInactive, value)
	}

	cfg, err := usersConfig(*path, lookupEnv)
	if err != nil {
		var ce *kitconfig.Error
		if errors.As(err, &ce) && ce.Key == "database.url" {
			return fail(2, "%v\nidentity: set IDENTITY_DATABASE_URL to the platform database: the command revokes the user's access tokens there "+
				"(without that, tokens issued before the change keep working for up to 6 hours). Nothing was changed.", err)
		}
		return fail(2, "%v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The database first: a change whose tokens cannot be revoked is not
	// made at all.
	db, err := pgxpool.New(ctx, cfg.Database.URL)
	if err == nil {
		err = db.Ping(ctx)
	}
	if err != nil {
		return fail(1, "cannot reach the platform database (IDENTITY_DATABASE_URL), where the user's tokens are revoked: %v. Nothing was changed.",
			pgError(err))
	}
	defer db.Close()
	events := postgres.NewEventLog(db, slog.New(slog.NewTextHandler(stderr, nil)))
	defer events.Close()

	kc := kratosClient(cfg)
	oauth, err := hydraClient(cfg)
	if err != nil {
		return fail(2, "%v", err)
	}
	accounts := &identity.Accounts{Identities: kc, OAuth: oauth, Revoker: revocation.NewStore(db, 0)}

	id, err := kc.IdentityByEmail(ctx, email)
	if errors.Is(err, kratos.ErrNotFound) {
		return fail(1, "no user with email %s", email)
	}
	if err != nil {
		return fail(1, "%v. Nothing was changed.", err)
	}

	var previous, what, then string
	event := identity.Event{IdentityID: id, Email: email, Detail: map[string]any{"to": value, "by": "command line"}}
	switch cmd {
	case "set-role":
		previous, err = accounts.SetRole(ctx, id, value)
		event.Type, what = identity.EventRoleChanged, "role"
		then = "tokens issued before were revoked; the new role shows in the user's next token"
	case "set-state":
		previous, err = accounts.SetState(ctx, id, value)
		event.Type, what = identity.EventStateChanged, "state"
		then = "the user can sign in again"
		if value == identity.StateInactive {
			then = "the user's sessions were ended and their tokens revoked"
		}
	}
	var partial *identity.ActionError
	if err != nil && !errors.As(err, &partial) {
		return fail(1, "%v. Nothing was changed.", err)
	}
	event.Detail["from"] = previous
	events.Record(ctx, event)
	if partial != nil {
		return fail(1, "%s (%s): %s %s -> %s, but not completely: %s\nidentity: run the same command again to finish (%v)",
			email, id, what, previous, value, partial.Message(), partial.Err)
	}
	fmt.Fprintf(stdout, "%s (%s): %s %s -> %s; %s\n", email, id, what, previous, value, then)
	return 0
}

// usersConfig reads the service's file for what the commands need: Kratos'
// and Hydra's admin URLs and the database (IDENTITY_DATABASE_URL). The
// server's other secrets need not be in this shell's environment.
func usersConfig(path string, lookupEnv func(string) (string, bool)) (config.Config, error) {
	cfg := config.Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	placeholders := map[string]string{
		"IDENTITY_HOOK_SECRET": "unused-by-this-command-5b0e7c2d9a14f386", "IDENTITY_SMTP_URL": "smtp://unused/",
	}
	lookup := func(k string) (string, bool) {
		if v, ok := lookupEnv(k); ok {
			return v, true
		}
		v, ok := placeholders[k]
		return v, ok
	}
	return cfg, kitconfig.LoadBytes(path, raw, &cfg, lookup)
}

// pgError keeps a connection error short and free of the password.
func pgError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "password="); i >= 0 {
		s = s[:i] + "password=..."
	}
	return s
}
