// Package validate checks a migration: every legacy user in Kratos exactly
// once, as planned, the mapping, copied login attempts and rewritten
// platform rows complete, and, given known passwords, that users sign in.
package validate

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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/hashes"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/migrate"
	"github.com/learnplatform/platform/migrations/legacy/plan"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/report"
	"github.com/learnplatform/platform/migrations/legacy/source"
)

// Run checks that every legacy user is in Kratos exactly once, as planned,
// that the mapping, the copied login attempts and the rewritten platform
// rows are complete, and, given known passwords, that those users sign in.
// The outcome is "valid" or "invalid".
func Run(ctx context.Context, m *migrate.Migrator) (*report.Report, error) {
	r := report.New("validate")
	if m.Kratos == nil {
		return nil, errors.New("validate needs the Kratos admin URL")
	}
	src, err := source.Open(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	if src.Empty {
		return r.NothingToMigrate("the legacy database has none of the legacy tables: nothing to validate"), nil
	}
	ds, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	pf, err := platform.Open(ctx, m.PlatformDSN)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	r.Legacy = &ds.Counts
	p := m.BuildPlan(ds)
	tally := p.Tally()
	r.Plan = &tally
	if o := ds.Counts.Orphans(); o != "" {
		r.Warnings = append(r.Warnings, o)
	}
	r.Sessions = report.NewSessionsNote(ds.Counts)
	v := &report.Validation{Expected: len(p.Identities), Problems: []string{}}
	r.Validate = v

	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return nil, err
	}
	stored, err := pf.Conflicts(ctx)
	if err != nil {
		return nil, err
	}
	r.Conflicts = append(append([]legacy.Conflict{}, p.Conflicts...), legacy.ExplainRunConflicts(stored)...)
	kept := map[string]bool{}                    // primaries a run-time conflict kept out
	withoutLinks := map[string]map[string]bool{} // links left out, by primary
	collisions := map[string]int64{}             // platform rows left on purpose, by table
	for _, c := range stored {
		switch c.Kind {
		case legacy.ConflictExistsInKratos, legacy.ConflictRejectedByKratos:
			kept[c.LegacyID] = true
		case legacy.ConflictSocialLinkTaken:
			if withoutLinks[c.LegacyID] == nil {
				withoutLinks[c.LegacyID] = map[string]bool{}
			}
			withoutLinks[c.LegacyID][c.Subject] = true
		case legacy.ConflictRowCollision:
			t, _ := c.Detail["table"].(string)
			collisions[t]++
		}
	}

	listStart := time.Now()
	byLegacy := map[string][]kratos.Identity{}
	err = m.Kratos.List(ctx, true, func(page []kratos.Identity) error {
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
	for i := range p.Identities {
		id := &p.Identities[i]
		primaries[id.LegacyID] = true
		found := byLegacy[id.LegacyID]
		for _, l := range id.Merged {
			if len(byLegacy[l]) > 0 {
				v.Problem("%s: merged into %s, but Kratos also has an identity for it", l, id.LegacyID)
			}
		}
		if kept[id.LegacyID] {
			if len(found) > 0 {
				v.Problem("%s (%s): reported as not migrated, but Kratos has %d identities for it", id.LegacyID, id.Email, len(found))
				continue
			}
			for _, l := range id.Members() {
				if _, ok := mapped[l]; ok {
					v.Problem("%s: reported as not migrated, but mapped", l)
				}
			}
			v.NotMigrated++
			continue
		}
		if len(found) != 1 {
			v.Problem("%s (%s): %d identities in Kratos, want exactly 1", id.LegacyID, id.Email, len(found))
			continue
		}
		problems, rehashed := checkIdentity(id, &found[0], withoutLinks[id.LegacyID])
		if len(problems) > 0 {
			for _, pr := range problems {
				v.Problem("%s (%s): %s", id.LegacyID, id.Email, pr)
			}
			continue
		}
		ok := true
		for _, l := range id.Members() {
			if mp, has := mapped[l]; !has || mp.IdentityID != found[0].ID {
				v.Problem("%s: mapping says %q, Kratos identity is %s", l, mp.IdentityID, found[0].ID)
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
	for _, l := range p.Skipped {
		if len(byLegacy[l]) > 0 {
			v.Problem("%s: not to be imported, but Kratos has an identity for it", l)
		}
		if _, ok := mapped[l]; ok {
			v.Problem("%s: not to be imported, but mapped", l)
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
		v.Problem("Kratos identity %s carries legacy id %s, which no legacy user has", byLegacy[l][0].ID, l)
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
		v.Problem("auth event log holds %d of %d legacy login attempts (copied up to id %d of %d)", v.EventsFound, v.EventsExpected, copied, ds.Counts.MaxAttemptID)
	}
	left, err := pf.LegacyRowsLeft(ctx)
	if err != nil {
		return nil, err
	}
	v.RowsLeft = map[string]int64{}
	for t, n := range left {
		if n -= collisions[t]; n != 0 {
			v.RowsLeft[t] = n
			v.Problem("%s: %d rows still hold a migrated user's legacy id", t, n)
		}
	}
	if cols, err := pf.UnlistedUserColumns(ctx); err == nil && len(cols) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("platform columns %v look like user ids but legacy.UserTables does not list them", cols))
	}

	if m.PasswordsFile != "" {
		if err := signIns(ctx, m, p, mapped, v); err != nil {
			return nil, err
		}
	}
	outcome := "valid"
	if v.ProblemCount > 0 {
		outcome = "invalid"
	}
	r.Finish(outcome)
	return r, nil
}

// checkIdentity compares a Kratos identity with the planned one; rehashed
// says its password hash is Kratos' re-hash of the imported one.
func checkIdentity(id *legacy.Identity, k *kratos.Identity, withoutLinks map[string]bool) (out []string, rehashed bool) {
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
		case hashes.Rehashed(id.PasswordHash, got):
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
func signIns(ctx context.Context, m *migrate.Migrator, p *plan.Plan, mapped map[string]platform.Mapping, v *report.Validation) error {
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
	res := &report.SignIns{Tried: len(creds)}
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
				if id, ok := p.LookupEmail(c.email); ok {
					want = mapped[id.LegacyID].IdentityID
				}
				switch {
				case err != nil:
					v.Problem("sign-in as %s: %v", c.email, err)
				case got != want:
					v.Problem("sign-in as %s: session of identity %s, want %s", c.email, got, want)
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
