// Package legacyfixture builds legacy auth databases for tests and
// benchmarks: the legacy schema filled with users whose passwords are
// known (bcrypt at a low cost, with $2a$, $2b$ and $2y$ prefixes, and on
// request a share of the other formats in HashVectors), and, on request,
// a user for every hash format of HashVectors and UnsupportedHashVectors,
// and every awkward case the migration must handle: social-only
// users, duplicates by case and spaces, invalid emails, users with no way
// to sign in, hashes Kratos cannot verify, unknown roles, unverified and
// inactive users, several roles, a social link claimed twice, an unknown
// provider, an over-long name, rows that belong to no user, sessions and
// login attempts.
//
// The e2e tests (e2e/migration) and `make bench` import it; nothing in the
// platform does.
package legacyfixture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/learnplatform/platform/migrations/legacy"
)

// Spec says what to generate.
type Spec struct {
	// Domain is the email domain of every user, so that fixtures of
	// several tests can share one Kratos.
	Domain string
	// Users is how many ordinary users to make (user-00001@Domain, ...).
	Users int
	// EdgeCases adds the hand-made awkward users (see Edge).
	EdgeCases bool
	// HashPool, when above zero, hashes only that many distinct passwords
	// and shares them among ordinary users (fast for large fixtures);
	// zero gives every user their own.
	HashPool int
	// AttemptsPerUser and SessionsPerUser for ordinary users.
	AttemptsPerUser int
	SessionsPerUser int
	// HashFormats adds a user for every vector of HashVectors (the
	// vector's Name is the user's name and email local part; they sign in
	// with its Password) and of UnsupportedHashVectors (forced recovery:
	// their passwords are in Refused).
	HashFormats bool
	// OtherFormats is the percentage of ordinary users with a password
	// whose hash is one of HashVectors (in turn, with that vector's
	// password) instead of bcrypt.
	OtherFormats int
	// Seed makes the fixture reproducible.
	Seed uint64
}

// HashVector is a password hash in a legacy format, made by an independent
// implementation (vectors.go, written by
// migrations/legacy/hashes/testdata/hashvectors.py).
type HashVector struct {
	// Name is a short name; the user of Spec.HashFormats has the email
	// Name@Domain.
	Name string
	// Format is the label the migration should give it (hashes.Info.Format).
	Format   string
	Password string
	// Legacy is the hash as the legacy system stores it; Kratos the form
	// Kratos verifies ("" when there is none).
	Legacy string
	Kratos string
	// Tool says what made it.
	Tool string
}

// Fixture is what was generated.
type Fixture struct {
	DSN string
	// Passwords are the plain passwords, by normalized email, of the users
	// who should sign in with them after the migration (active, with an
	// importable hash; for a merged duplicate the primary's).
	Passwords map[string]string
	// Refused are passwords that must not sign in afterwards (the merged
	// duplicate's other password, an inactive user's).
	Refused map[string]string
	// IDs are the legacy user ids by name: for edge cases the names below,
	// for ordinary users their email.
	IDs map[string]string
	// Users is the number of legacy users.
	Users int
}

// Edge case names (Fixture.IDs keys). Emails are NAME@Domain unless said.
const (
	EdgeBcrypt2a      = "ada"   // $2a$, verified, active, student
	EdgeBcrypt2b      = "bob"   // $2b$, roles student and instructor
	EdgeBcrypt2y      = "cyd"   // $2y$, roles admin and student
	EdgeDupPrimary    = "eve"   // "Eve@Domain", active, verified, password: the primary
	EdgeDupSecondary  = "eve2"  // " eve@domain ", inactive, admin, another password
	EdgeDupSocial     = "eve3"  // "EVE@DOMAIN", social only (google eve-sub)
	EdgeSocialGoogle  = "gia"   // social only, google
	EdgeSocialGitHub  = "hal"   // social only, github, unverified
	EdgeBoth          = "ian"   // password and github
	EdgeInvalid1      = "bad1"  // "not-an-email"
	EdgeInvalid2      = "bad2"  // "jon@@Domain"
	EdgeInvalid3      = "bad3"  // "kim@ Domain" (space inside)
	EdgeNoCredentials = "lou"   // no hash, no social link
	EdgeMD5           = "mia"   // md5 hex hash
	EdgeSHA1          = "ned"   // sha1 hex hash, and a google link
	EdgeUnknownRole   = "oli"   // roles "teacher" and "Instructor "
	EdgeUnverified    = "pat"   // email_verified false
	EdgeInactive      = "quinn" // is_active false
	EdgeSharedLinkOld = "rob"   // google shared-sub, linked first
	EdgeSharedLinkNew = "sam"   // google shared-sub, linked later
	EdgeUnknownProv   = "tom"   // a facebook link and a password
	EdgeLongName      = "uma"   // a 250-character name
	EdgeNullRole      = "vic"   // a user_roles row with NULL role, NULL full_name
	// For tests that first give Kratos an identity of its own with the
	// same email, or the same social link (google xan-sub).
	EdgeTakenEmail = "wes"
	EdgeTakenLink  = "xan" // a password and google xan-sub
)

// SocialSubjects of edge cases, by name: provider and subject.
var SocialSubjects = map[string][2]string{
	EdgeDupSocial:     {"google", "eve-sub"},
	EdgeSocialGoogle:  {"google", "gia-sub"},
	EdgeSocialGitHub:  {"github", "hal-sub"},
	EdgeBoth:          {"github", "ian-sub"},
	EdgeSHA1:          {"google", "ned-sub"},
	EdgeSharedLinkOld: {"google", "shared-sub"},
	EdgeSharedLinkNew: {"google", "shared-sub"},
	EdgeUnknownProv:   {"facebook", "tom-sub"},
	EdgeTakenLink:     {"google", "xan-sub"},
}

// Create makes a new empty database next to adminDSN's (on the same
// server) and returns its DSN.
func Create(ctx context.Context, adminDSN, prefix string) (string, error) {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	u, err := url.Parse(adminDSN)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Drop removes a database Create made.
func Drop(ctx context.Context, adminDSN, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)")
	return err
}

// CreateSchema creates the legacy tables in the database at dsn.
func CreateSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, legacy.Schema)
	return err
}

type user struct {
	id, email, hash, name     string
	hasName, verified, active bool
	created, updated          time.Time
	roles                     []*string
	social                    [][2]string
	socialAt                  []time.Time
	password                  string
	sessions, attempts        int
	refused                   bool // the password must not sign in (an unsupported hash)
}

// Generate creates the legacy schema in the (empty) database at dsn and
// fills it as spec says.
func Generate(ctx context.Context, dsn string, spec Spec) (*Fixture, error) {
	if spec.Domain == "" {
		return nil, fmt.Errorf("legacyfixture: Spec.Domain is required")
	}
	if err := CreateSchema(ctx, dsn); err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	newID := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	base := time.Date(2021, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func() time.Time {
		return base.Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour)))).Truncate(time.Microsecond)
	}
	fx := &Fixture{DSN: dsn, Passwords: map[string]string{}, Refused: map[string]string{}, IDs: map[string]string{}}
	d := spec.Domain
	str := func(s string) *string { return &s }

	var users []*user
	if spec.EdgeCases {
		mk := func(name, email, password string, verified, active bool, roles ...*string) *user {
			u := &user{id: newID(), email: email, password: password, verified: verified, active: active,
				name: strings.ToUpper(name[:1]) + name[1:] + " Legacy", hasName: true, roles: roles}
			u.created = at()
			u.updated = u.created.Add(time.Hour)
			u.sessions, u.attempts = 2, 3
			if p, ok := SocialSubjects[name]; ok {
				u.social = append(u.social, p)
				u.socialAt = append(u.socialAt, u.created.Add(time.Minute))
			}
			fx.IDs[name] = u.id
			users = append(users, u)
			return u
		}
		mk(EdgeBcrypt2a, "ada@"+d, "Ada-legacy-pass-1", true, true, str("student"))
		mk(EdgeBcrypt2b, "bob@"+d, "Bob-legacy-pass-2", true, true, str("student"), str("instructor")).hash = "2b"
		mk(EdgeBcrypt2y, "cyd@"+d, "Cyd-legacy-pass-3", true, true, str("admin"), str("student")).hash = "2y"
		p := mk(EdgeDupPrimary, "Eve@"+strings.ToUpper(d[:1])+d[1:], "Eve-legacy-pass-4", true, true, str("student"))
		s := mk(EdgeDupSecondary, " eve@"+d+" ", "Eve-other-pass-5", false, false, str("admin"))
		s.updated = p.updated.Add(24 * time.Hour) // newer, but inactive: not the primary
		mk(EdgeDupSocial, "EVE@"+strings.ToUpper(d), "", true, true)
		mk(EdgeSocialGoogle, "gia@"+d, "", true, true, str("student"))
		mk(EdgeSocialGitHub, "hal@"+d, "", false, true)
		mk(EdgeBoth, "ian@"+d, "Ian-legacy-pass-6", true, true, str("instructor"))
		mk(EdgeInvalid1, "not-an-email", "Bad-legacy-pass-7", true, true)
		mk(EdgeInvalid2, "jon@@"+d, "Bad-legacy-pass-8", true, true)
		mk(EdgeInvalid3, "kim@ "+d, "Bad-legacy-pass-9", true, true)
		mk(EdgeNoCredentials, "lou@"+d, "", true, true)
		mk(EdgeMD5, "mia@"+d, "", true, true).hash = "5f4dcc3b5aa765d61d8327deb882cf99"
		mk(EdgeSHA1, "ned@"+d, "", true, true).hash = "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"
		mk(EdgeUnknownRole, "oli@"+d, "Oli-legacy-pass-10", true, true, str("teacher"), str("Instructor "))
		mk(EdgeUnverified, "pat@"+d, "Pat-legacy-pass-11", false, true)
		mk(EdgeInactive, "quinn@"+d, "Quinn-legacy-pass-12", true, false)
		rob := mk(EdgeSharedLinkOld, "rob@"+d, "Rob-legacy-pass-13", true, true)
		sam := mk(EdgeSharedLinkNew, "sam@"+d, "Sam-legacy-pass-14", true, true)
		sam.socialAt[0] = rob.socialAt[0].Add(time.Hour)
		mk(EdgeUnknownProv, "tom@"+d, "Tom-legacy-pass-15", true, true)
		mk(EdgeLongName, "uma@"+d, "Uma-legacy-pass-16", true, true).name = strings.Repeat("Umaé ", 50)
		v := mk(EdgeNullRole, "vic@"+d, "Vic-legacy-pass-17", true, true, nil)
		v.hasName = false
		mk(EdgeTakenEmail, "wes@"+d, "Wes-legacy-pass-18", true, true)
		mk(EdgeTakenLink, "xan@"+d, "Xan-legacy-pass-19", true, true)
	}
	if spec.HashFormats {
		for _, v := range HashVectors {
			u := &user{id: newID(), email: v.Name + "@" + d, password: v.Password, hash: v.Legacy, verified: true, active: true,
				name: "Format " + v.Name, hasName: true, roles: []*string{str("student")}, sessions: 1, attempts: 1}
			u.created = at()
			u.updated = u.created
			fx.IDs[v.Name] = u.id
			users = append(users, u)
		}
		for _, v := range UnsupportedHashVectors {
			u := &user{id: newID(), email: v.Name + "@" + d, password: v.Password, hash: v.Legacy, verified: true, active: true,
				name: "Format " + v.Name, hasName: true, sessions: 1, attempts: 1, refused: true}
			u.created = at()
			u.updated = u.created
			fx.IDs[v.Name] = u.id
			users = append(users, u)
		}
	}
	others := 0
	pool := spec.HashPool
	for i := 1; i <= spec.Users; i++ {
		u := &user{id: newID(), email: fmt.Sprintf("user-%06d@%s", i, d), verified: rng.IntN(10) != 0, active: rng.IntN(20) != 0,
			name: fmt.Sprintf("Learner %d", i), hasName: rng.IntN(10) != 0, sessions: spec.SessionsPerUser, attempts: spec.AttemptsPerUser}
		u.created = at()
		u.updated = u.created.Add(time.Duration(rng.IntN(1000)) * time.Hour)
		n := i
		if pool > 0 {
			n = i % pool
		}
		u.password = fmt.Sprintf("Learner-pass-%06d", n)
		switch r := rng.IntN(100); {
		case r < 5:
			u.roles = []*string{str("instructor")}
		case r < 6:
			u.roles = []*string{str("admin"), str("student")}
		case r < 60:
			u.roles = []*string{str("student")}
		}
		if rng.IntN(5) == 0 {
			u.social = [][2]string{{[]string{"google", "github"}[rng.IntN(2)], "sub-" + u.id}}
			u.socialAt = []time.Time{u.created}
			if rng.IntN(2) == 0 {
				u.password = ""
			}
		}
		if u.password != "" && spec.OtherFormats > 0 && rng.IntN(100) < spec.OtherFormats {
			v := HashVectors[others%len(HashVectors)]
			others++
			u.password, u.hash = v.Password, v.Legacy
		}
		fx.IDs[u.email] = u.id
		users = append(users, u)
	}
	if err := hashAll(users, pool); err != nil {
		return nil, err
	}
	for _, u := range users {
		email := legacy.NormalizeEmail(u.email)
		if u.password == "" || !legacy.ValidEmail(email) {
			continue
		}
		switch {
		case u.id == fx.IDs[EdgeDupSecondary] || !u.active || u.refused:
			fx.Refused[email] = u.password
		default:
			fx.Passwords[email] = u.password
		}
	}
	fx.Users = len(users)
	return fx, load(ctx, dsn, users, spec.EdgeCases, rng, newID)
}

// hashAll computes the bcrypt hashes (cost 4: fast, and Kratos verifies any
// cost), several at a time; with a pool, only that many distinct ones.
func hashAll(users []*user, pool int) error {
	cache := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var first error
	sem := make(chan struct{}, 4)
	for _, u := range users {
		if u.password == "" {
			continue
		}
		prefix := u.hash
		if prefix != "" && prefix != "2b" && prefix != "2y" {
			continue // a literal (unsupported) hash
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(u *user, prefix string) {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			h, ok := cache[u.password]
			mu.Unlock()
			if !ok {
				b, err := bcrypt.GenerateFromPassword([]byte(u.password), 4)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				h = string(b)
				if pool > 0 {
					cache[u.password] = h
				}
				mu.Unlock()
			}
			if prefix != "" {
				h = "$" + prefix + "$" + strings.TrimPrefix(h, "$2a$")
			}
			u.hash = h
		}(u, prefix)
	}
	wg.Wait()
	return first
}

// load copies the users and their rows into the database.
func load(ctx context.Context, dsn string, users []*user, edge bool, rng *mrand.Rand, newID func() string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var us, roles, social, sessions, attempts [][]any
	now := time.Now().UTC()
	var attemptID int64
	for _, u := range users {
		var hash, name any
		if u.hash != "" {
			hash = u.hash
		}
		if u.hasName {
			name = u.name
		}
		us = append(us, []any{u.id, u.email, hash, name, u.verified, u.active, u.created, u.updated})
		for _, r := range u.roles {
			var role any
			if r != nil {
				role = *r
			}
			roles = append(roles, []any{u.id, role})
		}
		for i, s := range u.social {
			social = append(social, []any{newID(), u.id, s[0], s[1], legacy.NormalizeEmail(u.email), u.socialAt[i]})
		}
		for i := 0; i < u.sessions; i++ {
			exp := now.Add(time.Duration(rng.IntN(72)-24) * time.Hour)
			sessions = append(sessions, []any{newID(), u.id, fmt.Sprintf("%x", rng.Uint64()), exp, exp.Add(-48 * time.Hour), "203.0.113.7", "LegacyBrowser/1.0"})
		}
		for i := 0; i < u.attempts; i++ {
			attemptID++
			success := i != 0
			var uid any = u.id
			email := u.email
			if i == 0 && attemptID%2 == 0 {
				uid, email = nil, strings.ToUpper(email) // a failure recorded by address only
			}
			attempts = append(attempts, []any{attemptID, email, uid, success, "198.51.100." + fmt.Sprint(attemptID%250), "LegacyBrowser/1.0",
				u.created.Add(time.Duration(i+1) * time.Hour)})
		}
	}
	if edge {
		// Rows that belong to nobody.
		roles = append(roles, []any{nil, "admin"})
		sessions = append(sessions, []any{newID(), nil, "orphan", now.Add(time.Hour), now, "203.0.113.9", "LegacyBrowser/1.0"})
	}
	// Attempts for addresses nobody has.
	for i := 0; i < 3; i++ {
		attemptID++
		attempts = append(attempts, []any{attemptID, fmt.Sprintf("nobody-%d@nowhere.example", i), nil, false, "192.0.2.1", "curl/8", now.Add(-time.Duration(i) * time.Hour)})
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"users", []string{"id", "email", "password_hash", "full_name", "email_verified", "is_active", "created_at", "updated_at"}, us},
			{"user_roles", []string{"user_id", "role"}, roles},
			{"oauth_accounts", []string{"id", "user_id", "provider", "provider_user_id", "provider_email", "created_at"}, social},
			{"sessions", []string{"id", "user_id", "token_hash", "expires_at", "created_at", "ip", "user_agent"}, sessions},
			{"login_attempts", []string{"id", "email", "user_id", "success", "ip", "user_agent", "attempted_at"}, attempts},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("legacyfixture: %s: %w", c.table, err)
			}
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('login_attempts', 'id'), $1)`, max(attemptID, 1))
		return err
	})
}
