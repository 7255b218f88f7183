package plan

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/hashes"
)

var t0 = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)

// hash is a well-formed bcrypt hash (its password does not matter here).
func hash(prefix string) string {
	return "$" + prefix + "$04$" + strings.Repeat("a", 22) + strings.Repeat("b", 31)
}

func user(id, email string, opts ...func(*legacy.User)) legacy.User {
	u := legacy.User{ID: id, Email: email, PasswordHash: hash("2a"), EmailVerified: true, Active: true, CreatedAt: t0, UpdatedAt: t0}
	for _, o := range opts {
		o(&u)
	}
	return u
}

func kinds(p *Plan) map[string][]string {
	out := map[string][]string{}
	for _, c := range p.Conflicts {
		out[c.Kind] = append(out[c.Kind], strings.Join(c.LegacyIDs, ","))
	}
	return out
}

func TestDuplicatesByCaseAndSpacesMerge(t *testing.T) {
	ds := &legacy.Dataset{Users: []legacy.User{
		// Newest, but inactive: not the primary.
		user("u3", " ann@example.org ", func(u *legacy.User) {
			u.Active, u.UpdatedAt, u.Roles, u.PasswordHash = false, t0.Add(48*time.Hour), []string{"admin"}, hash("2b")
		}),
		user("u1", "Ann@Example.org", func(u *legacy.User) { u.EmailVerified = false; u.FullName, u.HasName = "Ann", true }),
		user("u2", "ANN@EXAMPLE.ORG", func(u *legacy.User) {
			u.PasswordHash = ""
			u.Social = []legacy.SocialAccount{{ID: "s1", Provider: "Google", Subject: "g-ann", CreatedAt: t0}}
		}),
	}}
	p := Build(ds, Options{})
	if len(p.Identities) != 1 {
		t.Fatalf("identities: %+v", p.Identities)
	}
	id := p.Identities[0]
	// Active and holding a password beats the social-only member and the
	// inactive one.
	if id.LegacyID != "u1" || !reflect.DeepEqual(id.Merged, []string{"u2", "u3"}) {
		t.Fatalf("primary %s merged %v", id.LegacyID, id.Merged)
	}
	if id.Email != "ann@example.org" || id.Name != "Ann" || !id.Verified || !id.Active || id.Role != account.RoleStudent {
		t.Fatalf("identity: %+v", id)
	}
	if id.Password != legacy.PasswordImported || id.PasswordHash != hash("2a") {
		t.Fatalf("password: %s %q", id.Password, id.PasswordHash)
	}
	if !reflect.DeepEqual(id.Social, []legacy.Link{{Provider: "google", Subject: "g-ann"}}) {
		t.Fatalf("social links: %v", id.Social)
	}
	k := kinds(p)
	if !reflect.DeepEqual(k[legacy.ConflictDuplicateEmail], []string{"u1,u2,u3"}) {
		t.Fatalf("conflicts: %v", k)
	}
	c := p.Conflicts[0]
	if !strings.Contains(c.Detail, "u3") || !strings.Contains(c.Detail, "its password and its role admin not carried over") {
		t.Fatalf("the detail does not name what was dropped: %s", c.Detail)
	}
	for _, l := range []string{"u1", "u2", "u3"} {
		if got, ok := p.Lookup(l); !ok || got.LegacyID != "u1" {
			t.Fatalf("Lookup(%s) = %v", l, got)
		}
	}
	if got, ok := p.LookupEmail("  ANN@example.org"); !ok || got.LegacyID != "u1" {
		t.Fatal("LookupEmail does not normalize")
	}
	meta := id.MetadataAdmin()
	if meta["legacy_id"] != "u1" || !reflect.DeepEqual(meta["merged_legacy_ids"], []string{"u2", "u3"}) || meta["imported_by"] != legacy.ImportedBy {
		t.Fatalf("metadata_admin: %v", meta)
	}
}

func TestPrimaryOrder(t *testing.T) {
	older, newer := t0, t0.Add(time.Hour)
	cases := []struct {
		name string
		a, b legacy.User
		want string
	}{
		{"active first", user("a", "x@e.org", func(u *legacy.User) { u.Active = false }), user("b", "X@e.org"), "b"},
		{"importable password next", user("a", "x@e.org", func(u *legacy.User) { u.PasswordHash = "md5" }), user("b", "X@e.org"), "b"},
		{"verified next", user("a", "x@e.org", func(u *legacy.User) { u.EmailVerified = false }), user("b", "X@e.org"), "b"},
		{"newest next", user("a", "x@e.org", func(u *legacy.User) { u.UpdatedAt = older }), user("b", "X@e.org", func(u *legacy.User) { u.UpdatedAt = newer }), "b"},
		{"lowest id last", user("b", "x@e.org"), user("a", "X@e.org"), "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Build(&legacy.Dataset{Users: []legacy.User{c.a, c.b}}, Options{})
			if len(p.Identities) != 1 || p.Identities[0].LegacyID != c.want {
				t.Fatalf("primary: %+v", p.Identities)
			}
		})
	}
}

func TestInvalidEmailsAreSkipped(t *testing.T) {
	bad := []string{"", "   ", "not-an-email", "jon@@e.org", "kim@ e.org", "a b@e.org", "@e.org", "x@-e.org", "x@e_.org",
		"Ann <ann@e.org>", "a@e.org.", strings.Repeat("l", 65) + "@e.org", "x@" + strings.Repeat("d", 64) + ".org"}
	var users []legacy.User
	for i, e := range bad {
		users = append(users, user(string(rune('a'+i)), e))
	}
	users = append(users, user("ok", "  Fine@E.org "))
	p := Build(&legacy.Dataset{Users: users}, Options{})
	if len(p.Identities) != 1 || p.Identities[0].Email != "fine@e.org" {
		t.Fatalf("identities: %+v", p.Identities)
	}
	if len(p.Skipped) != len(bad) || len(kinds(p)[legacy.ConflictInvalidEmail]) != len(bad) {
		t.Fatalf("skipped %v, conflicts %v", p.Skipped, kinds(p))
	}
}

func TestPasswords(t *testing.T) {
	cases := []struct {
		hash     string
		social   bool
		password string
		conflict string
	}{
		{hash("2a"), false, legacy.PasswordImported, ""},
		{hash("2b"), false, legacy.PasswordImported, ""},
		{hash("2y"), false, legacy.PasswordImported, ""},
		{hash("2x"), false, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
		{"$2a$04$tooshort", false, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
		{"$2a$03$" + strings.Repeat("a", 53), false, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
		{"5f4dcc3b5aa765d61d8327deb882cf99", false, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
		{"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", true, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
		{"", true, legacy.PasswordNone, ""},
		{"", false, legacy.PasswordRecovery, legacy.ConflictNoCredentials},
		{"{SSHA}7sZfzYbgv6gczyQv81BowcJQHY+6Ey8eADnoAw==", false, legacy.PasswordImported, ""},
		{"pbkdf2_sha1$12000$kV8s0mQz$gNwDc80vgQ6x1U0QDYDJU4ozWFE=", false, legacy.PasswordImported, ""},
		{"$argon2d$v=19$m=4096,t=2,p=1$oUya66KRsSeH620h431k9g$ck1/tqz6E35U9vpcSd+sVoyqNC3wbSp3gDmpYAfBaxE", true, legacy.PasswordRecovery, legacy.ConflictUnsupportedHash},
	}
	for _, c := range cases {
		t.Run(c.hash, func(t *testing.T) {
			u := user("u", "u@e.org", func(u *legacy.User) { u.PasswordHash = c.hash })
			if c.social {
				u.Social = []legacy.SocialAccount{{ID: "s", Provider: "github", Subject: "1"}}
			}
			p := Build(&legacy.Dataset{Users: []legacy.User{u}}, Options{})
			id := p.Identities[0]
			if id.Password != c.password {
				t.Fatalf("password %s, want %s", id.Password, c.password)
			}
			if (id.PasswordHash != "") != (c.password == legacy.PasswordImported) {
				t.Fatalf("hash imported: %q", id.PasswordHash)
			}
			if in := hashes.Inspect(c.hash); id.PasswordHash != in.Kratos || id.HashTranslated != in.Translated || c.hash != "" && id.PasswordFormat != in.Format {
				t.Fatalf("imported %q (%s), hashes.Inspect says %+v", id.PasswordHash, id.PasswordFormat, in)
			}
			if got := len(kinds(p)[c.conflict]); c.conflict != "" && got != 1 || c.conflict == "" && len(p.Conflicts) != 0 {
				t.Fatalf("conflicts: %v", kinds(p))
			}
			if c.password == legacy.PasswordRecovery && id.MetadataAdmin()["recovery_required"] != true {
				t.Fatal("recovery_required is not in metadata_admin")
			}
		})
	}
}

func TestRoles(t *testing.T) {
	cases := []struct {
		roles   []string
		want    string
		unknown []string
	}{
		{nil, account.RoleStudent, nil},
		{[]string{"student"}, account.RoleStudent, nil},
		{[]string{"student", "instructor"}, account.RoleInstructor, nil},
		{[]string{"admin", "student", "instructor"}, account.RoleAdmin, nil},
		{[]string{" Instructor ", "teacher"}, account.RoleInstructor, []string{"teacher"}},
		{[]string{"superuser"}, account.RoleStudent, []string{"superuser"}},
		{[]string{""}, account.RoleStudent, []string{""}},
	}
	for _, c := range cases {
		p := Build(&legacy.Dataset{Users: []legacy.User{user("u", "u@e.org", func(u *legacy.User) { u.Roles = c.roles })}}, Options{})
		id := p.Identities[0]
		if id.Role != c.want || !reflect.DeepEqual(id.LegacyRoles, c.unknown) {
			t.Errorf("roles %q: role %s, unknown %q; want %s, %q", c.roles, id.Role, id.LegacyRoles, c.want, c.unknown)
		}
		if (len(c.unknown) > 0) != (len(kinds(p)[legacy.ConflictUnknownRole]) == 1) {
			t.Errorf("roles %q: conflicts %v", c.roles, kinds(p))
		}
	}
}

func TestSocialLinks(t *testing.T) {
	ds := &legacy.Dataset{Users: []legacy.User{
		user("u1", "one@e.org", func(u *legacy.User) {
			u.Social = []legacy.SocialAccount{
				{ID: "a2", Provider: "google", Subject: "shared", CreatedAt: t0.Add(time.Hour)},
				{ID: "a3", Provider: "facebook", Subject: "fb-1", CreatedAt: t0},
				{ID: "a4", Provider: "github", Subject: " ", CreatedAt: t0},
				{ID: "a5", Provider: "GitHub", Subject: "gh-1", CreatedAt: t0},
				{ID: "a6", Provider: "github", Subject: "gh-1", CreatedAt: t0.Add(time.Minute)},
			}
		}),
		user("u2", "two@e.org", func(u *legacy.User) {
			u.Social = []legacy.SocialAccount{{ID: "a1", Provider: "google", Subject: "shared", CreatedAt: t0}}
		}),
	}}
	p := Build(ds, Options{})
	one, _ := p.Lookup("u1")
	two, _ := p.Lookup("u2")
	if !reflect.DeepEqual(two.Social, []legacy.Link{{Provider: "google", Subject: "shared"}}) {
		t.Fatalf("the first to link keeps it: %v", two.Social)
	}
	if !reflect.DeepEqual(one.Social, []legacy.Link{{Provider: "github", Subject: "gh-1"}}) {
		t.Fatalf("u1 links: %v", one.Social)
	}
	if !reflect.DeepEqual(one.LegacySocial, []legacy.Link{{Provider: "facebook", Subject: "fb-1"}}) {
		t.Fatalf("unknown provider not kept: %v", one.LegacySocial)
	}
	k := kinds(p)
	if !reflect.DeepEqual(k[legacy.ConflictDuplicateSocialLink], []string{"u1", "u2,u1"}) || len(k[legacy.ConflictUnknownProvider]) != 1 || len(k[legacy.ConflictInvalidSocialLink]) != 1 {
		t.Fatalf("conflicts: %v", k)
	}

	// With facebook mapped, it is imported.
	p = Build(ds, Options{Providers: map[string]string{"google": "google", "github": "gh", "facebook": "fb"}})
	one, _ = p.Lookup("u1")
	if !reflect.DeepEqual(one.Social, []legacy.Link{{Provider: "fb", Subject: "fb-1"}, {Provider: "gh", Subject: "gh-1"}}) {
		t.Fatalf("mapped providers: %v", one.Social)
	}
}

func TestLongNameIsTruncatedAndKept(t *testing.T) {
	long := strings.Repeat("é", MaxNameLength+7)
	p := Build(&legacy.Dataset{Users: []legacy.User{user("u", "u@e.org", func(u *legacy.User) { u.FullName, u.HasName = long, true })}}, Options{})
	id := p.Identities[0]
	if id.Name != strings.Repeat("é", MaxNameLength) || id.LegacyFullName != long || len(kinds(p)[legacy.ConflictNameTooLong]) != 1 {
		t.Fatalf("name %d runes, kept %d", len([]rune(id.Name)), len([]rune(id.LegacyFullName)))
	}
}

// The same data in any order gives the same plan.
func TestPlanIsDeterministic(t *testing.T) {
	var users []legacy.User
	for i := 0; i < 60; i++ {
		id := string(rune('A'+i%26)) + string(rune('a'+i/26))
		email := []string{"p@e.org", " P@e.org", "q@e.org", "bad", "r@e.org"}[i%5] + ""
		if i%5 == 4 {
			email = id + "@e.org"
		}
		users = append(users, user(id, email, func(u *legacy.User) {
			u.UpdatedAt = t0.Add(time.Duration(i%3) * time.Hour)
			u.Roles = []string{[]string{"student", "admin", "x"}[i%3]}
			u.Social = []legacy.SocialAccount{{ID: "s" + id, Provider: "google", Subject: []string{"s1", "s2"}[i%2], CreatedAt: t0.Add(time.Duration(i%4) * time.Minute)}}
		}))
	}
	want := Build(&legacy.Dataset{Users: users}, Options{})
	for round := 0; round < 10; round++ {
		shuffled := append([]legacy.User(nil), users...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := Build(&legacy.Dataset{Users: shuffled}, Options{})
		if !reflect.DeepEqual(got.Identities, want.Identities) || !reflect.DeepEqual(got.Conflicts, want.Conflicts) || !reflect.DeepEqual(got.Skipped, want.Skipped) {
			t.Fatal("a shuffled dataset gave another plan")
		}
	}
}

func TestTally(t *testing.T) {
	ds := &legacy.Dataset{Users: []legacy.User{
		user("a", "a@e.org", func(u *legacy.User) { u.Roles = []string{"admin"}; u.Active = false }),
		user("b", "B@e.org", func(u *legacy.User) { u.EmailVerified = false }),
		user("c", "b@e.org"),
		user("d", "d@e.org", func(u *legacy.User) {
			u.PasswordHash = ""
			u.Social = []legacy.SocialAccount{{ID: "x", Provider: "github", Subject: "1"}}
		}),
		user("e", "e@e.org", func(u *legacy.User) { u.PasswordHash = "" }),
		user("f", "nope"),
	}}
	c := Build(ds, Options{}).Tally()
	want := Counts{Identities: 4, MergedUsers: 1, SkippedUsers: 1, PasswordsImported: 2, RecoveryRequired: 1, SocialOnly: 1, SocialLinks: 1,
		Roles: map[string]int{account.RoleStudent: 3, account.RoleInstructor: 0, account.RoleAdmin: 1}, Inactive: 1, Unverified: 0,
		Conflicts:       map[string]int{legacy.ConflictDuplicateEmail: 1, legacy.ConflictInvalidEmail: 1, legacy.ConflictNoCredentials: 1},
		PasswordFormats: map[string]*FormatCount{"bcrypt": {Imported: 2}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("tally\n got %+v\nwant %+v", c, want)
	}
}
