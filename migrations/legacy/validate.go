package legacy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ValidateResult is what validate checked and found.
type ValidateResult struct {
	// Expected identities (the plan's), Correct those found exactly once
	// with the planned traits, role, credentials, state and metadata,
	// NotMigrated those a reported run-time conflict kept out (and that are
	// indeed absent).
	Expected    int `json:"expected_identities"`
	Correct     int `json:"correct_identities"`
	NotMigrated int `json:"not_migrated_as_reported"`
	// Rehashed counts correct identities whose imported hash Kratos has
	// since replaced with one of its own algorithm, as it does at the
	// first sign-in with a hash its hasher does not use (see Rehashed).
	Rehashed int `json:"rehashed_at_sign_in"`
	// KratosIdentities is how many identities Kratos holds in all.
	KratosIdentities int              `json:"kratos_identities"`
	EventsExpected   int64            `json:"events_expected"`
	EventsFound      int64            `json:"events_found"`
	RowsLeft         map[string]int64 `json:"platform_rows_still_on_legacy_ids"`
	SignIns          *SignInResult    `json:"sign_ins,omitempty"`
	ListSeconds      float64          `json:"kratos_list_seconds"`
	// Problems lists what is wrong (at most maxProblems; ProblemCount all).
	Problems     []string `json:"problems"`
	ProblemCount int      `json:"problem_count"`
}

// SignInResult counts validate's sign-ins with known passwords.
type SignInResult struct {
	Tried     int     `json:"tried"`
	Succeeded int     `json:"succeeded"`
	Seconds   float64 `json:"seconds"`
}

const maxProblems = 200

func (v *ValidateResult) problem(format string, args ...any) {
	v.ProblemCount++
	if len(v.Problems) < maxProblems {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

func (v *ValidateResult) writeSummary(p func(string, ...any)) {
	p("validate: %d of %d identities correct; %d not migrated as reported; Kratos holds %d identities (listed in %.1fs)",
		v.Correct, v.Expected, v.NotMigrated, v.KratosIdentities, v.ListSeconds)
	if v.Rehashed > 0 {
		p("  %d imported password hashes re-hashed by Kratos at the user's first sign-in", v.Rehashed)
	}
	p("  login attempts in the auth event log: %d of %d", v.EventsFound, v.EventsExpected)
	if s := v.SignIns; s != nil {
		p("  sign-ins with known passwords: %d of %d succeeded (%.1fs)", s.Succeeded, s.Tried, s.Seconds)
	}
	if v.ProblemCount == 0 {
		p("  no problems found")
		return
	}
	p("  %d problems:", v.ProblemCount)
	for _, pr := range v.Problems {
		p("    %s", pr)
	}
	if v.ProblemCount > len(v.Problems) {
		p("    … and %d more", v.ProblemCount-len(v.Problems))
	}
}

// Validate checks that every legacy user is in Kratos exactly once, as
// planned, that the mapping, the copied login attempts and the rewritten
// platform rows are complete, and, given known passwords, that those users
// sign in. The outcome is "valid" or "invalid".
func (m *Migrator) Validate(ctx context.Context) (*Report, error) {
	r := newReport("validate")
	if m.Kratos == nil {
		return nil, errors.New("validate needs the Kratos admin URL")
	}
	src, err := OpenSource(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	if src.Empty {
		return r.nothingToMigrate("the legacy database has none of the legacy tables: nothing to validate"), nil
	}
	ds, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	pf, err := OpenPlatform(ctx, m.PlatformDSN)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	r.Legacy = &ds.Counts
	plan := m.plan(ds)
	tally := plan.Tally()
	r.Plan = &tally
	if o := ds.Counts.Orphans(); o != "" {
		r.Warnings = append(r.Warnings, o)
	}
	r.Sessions = sessionsNote(ds.Counts)
	v := &ValidateResult{Expected: len(plan.Identities), Problems: []string{}}
	r.Validate = v

	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return nil, err
	}
	stored, err := pf.Conflicts(ctx)
	if err != nil {
		return nil, err
	}
	r.Conflicts = append(append([]Conflict{}, plan.Conflicts...), runConflicts(stored)...)
	kept := map[string]bool{}                    // primaries a run-time conflict kept out
	withoutLinks := map[string]map[string]bool{} // links left out, by primary
	collisions := map[string]int64{}             // platform rows left on purpose, by table
	for _, c := range stored {
		switch c.Kind {
		case ConflictExistsInKratos, ConflictRejectedByKratos:
			kept[c.LegacyID] = true
		case ConflictSocialLinkTaken:
			if withoutLinks[c.LegacyID] == nil {
				withoutLinks[c.LegacyID] = map[string]bool{}
			}
			withoutLinks[c.LegacyID][c.Subject] = true
		case ConflictRowCollision:
			t, _ := c.Detail["table"].(string)
			collisions[t]++
		}
	}

	listStart := time.Now()
	byLegacy := map[string][]KratosIdentity{}
	err = m.Kratos.List(ctx, true, func(page []KratosIdentity) error {
		for _, k := range page {
			v.KratosIdentities++
			if l := k.LegacyID(); l != "" {
				k.Raw = nil
				byLegacy[l] = append(byLegacy[l], k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.ListSeconds = time.Since(listStart).Seconds()

	primaries := map[string]bool{}
	for i := range plan.Identities {
		id := &plan.Identities[i]
		primaries[id.LegacyID] = true
		found := byLegacy[id.LegacyID]
		for _, l := range id.Merged {
			if len(byLegacy[l]) > 0 {
				v.problem("%s: merged into %s, but Kratos also has an identity for it", l, id.LegacyID)
			}
		}
		if kept[id.LegacyID] {
			if len(found) > 0 {
				v.problem("%s (%s): reported as not migrated, but Kratos has %d identities for it", id.LegacyID, id.Email, len(found))
				continue
			}
			for _, l := range id.Members() {
				if _, ok := mapped[l]; ok {
					v.problem("%s: reported as not migrated, but mapped", l)
				}
			}
			v.NotMigrated++
			continue
		}
		if len(found) != 1 {
			v.problem("%s (%s): %d identities in Kratos, want exactly 1", id.LegacyID, id.Email, len(found))
			continue
		}
		problems, rehashed := checkIdentity(id, &found[0], withoutLinks[id.LegacyID])
		if len(problems) > 0 {
			for _, pr := range problems {
				v.problem("%s (%s): %s", id.LegacyID, id.Email, pr)
			}
			continue
		}
		ok := true
		for _, l := range id.Members() {
			if mp, has := mapped[l]; !has || mp.IdentityID != found[0].ID {
				v.problem("%s: mapping says %q, Kratos identity is %s", l, mp.IdentityID, found[0].ID)
				ok = false
			}
		}
		if ok {
			v.Correct++
			if rehashed {
				v.Rehashed++
			}
		}
	}
	for _, l := range plan.Skipped {
		if len(byLegacy[l]) > 0 {
			v.problem("%s: not to be imported, but Kratos has an identity for it", l)
		}
		if _, ok := mapped[l]; ok {
			v.problem("%s: not to be imported, but mapped", l)
		}
	}
	var stray []string
	for l := range byLegacy {
		if !primaries[l] {
			stray = append(stray, l)
		}
	}
	sort.Strings(stray)
	for _, l := range stray {
		v.problem("Kratos identity %s carries legacy id %s, which no legacy user has", byLegacy[l][0].ID, l)
	}

	// Login attempts: every one up to the checkpoint, exactly once.
	copied, err := pf.EventsCopied(ctx)
	if err != nil {
		return nil, err
	}
	v.EventsExpected = int64(ds.Counts.LoginAttempts)
	if v.EventsFound, err = pf.LegacyEvents(ctx); err != nil {
		return nil, err
	}
	if copied != ds.Counts.MaxAttemptID || v.EventsFound != v.EventsExpected {
		v.problem("auth event log holds %d of %d legacy login attempts (copied up to id %d of %d)", v.EventsFound, v.EventsExpected, copied, ds.Counts.MaxAttemptID)
	}
	left, err := pf.LegacyRowsLeft(ctx)
	if err != nil {
		return nil, err
	}
	v.RowsLeft = map[string]int64{}
	for t, n := range left {
		if n -= collisions[t]; n != 0 {
			v.RowsLeft[t] = n
			v.problem("%s: %d rows still hold a migrated user's legacy id", t, n)
		}
	}
	if cols, err := pf.UnlistedUserColumns(ctx); err == nil && len(cols) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("platform columns %v look like user ids but legacy.UserTables does not list them", cols))
	}

	if m.PasswordsFile != "" {
		if err := m.signIns(ctx, plan, mapped, v); err != nil {
			return nil, err
		}
	}
	outcome := "valid"
	if v.ProblemCount > 0 {
		outcome = "invalid"
	}
	r.finish(outcome)
	return r, nil
}

// Rehashed reports whether Kratos replaced the imported hash with one of
// its own: at a successful password sign-in Kratos v1.3.1 re-hashes the
// password with its configured hasher whenever that hasher does not
// understand the stored hash (selfservice/strategy/password/login.go), and
// its hashers write bcrypt ($2a$) and Argon2id.
func Rehashed(imported, current string) bool {
	switch {
	case imported == "" || current == imported:
		return false
	case bcryptHash.MatchString(current) && strings.HasPrefix(current, "$2a$"):
		return !kratosBcrypt.MatchString(imported)
	case strings.HasPrefix(current, "$argon2id$") && InspectHash(current).Kind == HashImportable:
		return !strings.HasPrefix(imported, "$argon2id$")
	}
	return false
}

// kratosBcrypt is what Kratos' bcrypt hasher understands (IsBcryptHash).
var kratosBcrypt = regexp.MustCompile(`^\$2[abzy]?\$`)

// checkIdentity compares a Kratos identity with the planned one; rehashed
// says its password hash is Kratos' re-hash of the imported one.
func checkIdentity(id *Identity, k *KratosIdentity, withoutLinks map[string]bool) (out []string, rehashed bool) {
	if k.Traits.Email != id.Email {
		out = append(out, fmt.Sprintf("traits.email %q, want %q", k.Traits.Email, id.Email))
	}
	switch {
	case id.HasName && (k.Traits.Name == nil || *k.Traits.Name != id.Name):
		out = append(out, fmt.Sprintf("traits.name %v, want %q", deref(k.Traits.Name), id.Name))
	case !id.HasName && k.Traits.Name != nil:
		out = append(out, fmt.Sprintf("traits.name %q, want none", *k.Traits.Name))
	}
	if k.Role() != id.Role {
		out = append(out, fmt.Sprintf("role %q, want %q", k.Role(), id.Role))
	}
	state := "active"
	if !id.Active {
		state = "inactive"
	}
	if k.State != state {
		out = append(out, fmt.Sprintf("state %q, want %q", k.State, state))
	}
	if k.Verified(id.Email) != id.Verified {
		out = append(out, fmt.Sprintf("address verified %v, want %v", k.Verified(id.Email), id.Verified))
	}
	if got := k.PasswordHash(); got != id.PasswordHash {
		switch {
		case id.PasswordHash == "":
			out = append(out, "has a password, want none")
		case Rehashed(id.PasswordHash, got):
			rehashed = true
		default:
			out = append(out, "password hash differs from the imported one")
		}
	}
	var want []string
	for _, l := range id.Social {
		if !withoutLinks[l.Identifier()] {
			want = append(want, l.Identifier())
		}
	}
	got := slices.Clone(k.Links())
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("social links %v, want %v", got, want))
	}
	var wantMeta, gotMeta any
	b, _ := json.Marshal(id.MetadataAdmin())
	_ = json.Unmarshal(b, &wantMeta)
	_ = json.Unmarshal(k.MetadataAdmin, &gotMeta)
	if !reflect.DeepEqual(wantMeta, gotMeta) {
		out = append(out, fmt.Sprintf("metadata_admin %s, want %s", k.MetadataAdmin, b))
	}
	return out, rehashed
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// signIns signs in every user of the passwords file through Kratos' public
// API (or the edge in front of it) and checks that the session is the
// migrated identity's.
func (m *Migrator) signIns(ctx context.Context, plan *Plan, mapped map[string]Mapping, v *ValidateResult) error {
	if m.PublicURL == "" {
		return errors.New("-passwords needs -public-url (Kratos' public API or the identity edge)")
	}
	base, err := url.Parse(m.PublicURL)
	if err != nil || base.Host == "" {
		return fmt.Errorf("public URL %q: want http(s)://host:port/", m.PublicURL)
	}
	f, err := os.Open(m.PasswordsFile)
	if err != nil {
		return fmt.Errorf("passwords file: %w", err)
	}
	defer f.Close()
	type cred struct{ email, password string }
	var creds []cred
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		email, password, ok := strings.Cut(text, "\t")
		if !ok {
			return fmt.Errorf("passwords file %s line %d: want email<TAB>password", m.PasswordsFile, line)
		}
		creds = append(creds, cred{email, password})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("passwords file: %w", err)
	}
	client := m.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	res := &SignInResult{Tried: len(creds)}
	v.SignIns = res
	start := time.Now()
	var mu sync.Mutex
	work := make(chan cred)
	var wg sync.WaitGroup
	for w := 0; w < max(1, m.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				got, err := signIn(ctx, client, base, c.email, c.password)
				mu.Lock()
				want := ""
				if id, ok := plan.LookupEmail(c.email); ok {
					want = mapped[id.LegacyID].IdentityID
				}
				switch {
				case err != nil:
					v.problem("sign-in as %s: %v", c.email, err)
				case got != want:
					v.problem("sign-in as %s: session of identity %s, want %s", c.email, got, want)
				default:
					res.Succeeded++
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range creds {
		select {
		case work <- c:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	return ctx.Err()
}

// signIn runs Kratos' API login flow with a password and returns the
// session's identity id.
func signIn(ctx context.Context, client *http.Client, base *url.URL, email, password string) (string, error) {
	flowURL := base.ResolveReference(&url.URL{Path: "self-service/login/api"})
	var flow struct {
		ID string `json:"id"`
	}
	if err := jsonCall(ctx, client, http.MethodGet, flowURL.String(), nil, &flow); err != nil {
		return "", err
	}
	postURL := base.ResolveReference(&url.URL{Path: "self-service/login", RawQuery: url.Values{"flow": {flow.ID}}.Encode()})
	var out struct {
		Session struct {
			Identity struct {
				ID string `json:"id"`
			} `json:"identity"`
		} `json:"session"`
	}
	body := map[string]string{"method": "password", "identifier": email, "password": password}
	if err := jsonCall(ctx, client, http.MethodPost, postURL.String(), body, &out); err != nil {
		return "", err
	}
	return out.Session.Identity.ID, nil
}

func jsonCall(ctx context.Context, client *http.Client, method, u string, body, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(buf.String())
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return fmt.Errorf("%s %s: %d %s", method, strings.SplitN(u, "?", 2)[0], res.StatusCode, msg)
	}
	return json.Unmarshal(buf.Bytes(), out)
}
