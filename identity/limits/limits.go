// Package limits holds the edge's limits on what reaches Kratos, as the
// operator's policy sets them (ory-config/identity.yml): password sign-ins
// per identifier (account lockout) and per client address (the address
// throttle), and verification and recovery code mails per recipient and
// per client address (mail limits).
//
// identity/proxy calls a Guard on a flow post's way in (Login, Mail), which
// counts the attempt or answers the refusal itself (429 with Retry-After:
// the flow's page for browsers, JSON for API clients), and settles the
// attempt on the way back from Kratos. A lockout is logged and its owner,
// if the address belongs to an account, told by mail.
package limits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/pages"
	"github.com/learnplatform/platform/kit/kratos"
)

// Options configure a Guard.
type Options struct {
	// Kratos reads the flows of refused requests (to show them again) and
	// of Kratos' answers to sign-ins, and who signed in.
	Kratos *kratos.Client
	// Pages answers browsers.
	Pages *pages.UI
	// Lockouts counts password sign-ins (nil: no lockout, no address
	// throttle).
	Lockouts identity.Lockouts
	// MailQuota counts code mails (nil: no mail limits).
	MailQuota identity.MailQuota
	// Directory finds accounts by address: failures and lockouts are
	// logged under the account's id, lockout notices go only to existing
	// accounts (nil: no links, no notices).
	Directory Directory
	// Notifier tells users their account is locked (nil: nobody is told).
	Notifier Notifier
	// Events is the auth event log (nil: nothing recorded).
	Events identity.EventLog
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Registerer receives the sign-in and mail metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Notifier tells users what happened to their account.
type Notifier interface {
	LockedOut(ctx context.Context, email string, until time.Time)
}

// Directory looks identities up in Kratos' admin API (kratos.Client).
type Directory interface {
	// IdentityByEmail is the identity whose password identifier is email
	// (an error matching kratos.ErrNotFound when there is none).
	IdentityByEmail(ctx context.Context, email string) (string, error)
}

// Message ids the edge adds to flows (Kratos leaves 4000900 and up free).
const (
	MsgLocked       int64 = 4000960
	MsgThrottled    int64 = 4000961
	MsgMailThrottle int64 = 4000962
)

// Guard counts and refuses attempts against the limits.
type Guard struct {
	opts    Options
	metrics metrics
	// dirCache remembers Directory answers (identityOf).
	dirMu    sync.Mutex
	dirCache map[string]directoryEntry
	// bg is the work done after answering (background).
	bg sync.WaitGroup
}

// metrics are the guard's figures, next to kit/server's HTTP metrics.
type metrics struct {
	signIns     *prometheus.CounterVec // by outcome
	lockouts    prometheus.Counter
	throttle    prometheus.Counter
	mailRefused *prometheus.CounterVec // by kind
}

// New returns a guard.
func New(opts Options) *Guard {
	m := metrics{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_password_sign_ins_total",
			Help: "Password sign-ins through the edge, by outcome (succeeded, failed, refused_locked, refused_throttled).",
		}, []string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_lockouts_total", Help: "Identifiers locked after too many failed sign-ins.",
		}),
		throttle: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_address_throttles_total", Help: "Client addresses blocked after failing against many accounts.",
		}),
		mailRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_mail_refused_total",
			Help: "Mails not sent because of the mail limits, by kind (verification, recovery, lockout).",
		}, []string{"kind"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.signIns, m.lockouts, m.throttle, m.mailRefused)
	}
	return &Guard{opts: opts, metrics: m, dirCache: map[string]directoryEntry{}}
}

func (g *Guard) now() time.Time {
	if g.opts.Now != nil {
		return g.opts.Now()
	}
	return time.Now()
}

// refuseInFlow answers 429 with Retry-After: the error shape for API
// clients, the flow's form with msg for browsers (field refilled with
// value).
func (g *Guard) refuseInFlow(w http.ResponseWriter, r *http.Request, kind kratos.Kind, flowID string, until, now time.Time,
	code string, msg kratos.Text, field, value string) {
	retry := max(1, int(math.Ceil(until.Sub(now).Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	if edge.WantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]any{"code": code, "message": msg.Text, "id": msg.ID, "retry_after": retry},
		})
		return
	}
	// The browser gets its form back with the message.
	f, err := g.opts.Kratos.Flow(r.Context(), kind, flowID, r.Header.Get("Cookie"), "")
	if err != nil {
		g.opts.Pages.ShowError(w, r, http.StatusTooManyRequests, code, msg.Text)
		return
	}
	f.UI.Messages = append(f.UI.Messages, msg)
	if n := f.UI.Find(field); n != nil && value != "" {
		n.SetValue(value)
	}
	g.opts.Pages.ShowFlow(w, r, http.StatusTooManyRequests, f)
}

// unavailable answers 503 when a limit's store cannot be reached.
func (g *Guard) unavailable(w http.ResponseWriter, r *http.Request, text string) {
	w.Header().Set("Retry-After", "30")
	g.opts.Pages.ShowError(w, r, http.StatusServiceUnavailable, "unavailable", text)
}

// minutesLeft says "1 minute", "12 minutes".
func minutesLeft(until, now time.Time) string {
	n := max(1, int(math.Ceil(until.Sub(now).Minutes())))
	if n == 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
}

// MailRequest is a verification or recovery code asked for through the
// edge, counted against the mail limits.
type MailRequest struct {
	g       *Guard
	address string
	ip      string
	once    sync.Once
}

// Mail counts a request for a verification or recovery code (kind) to
// address against the mail limits before Kratos sends it, or refuses it
// (429). It returns the request to give back if no mail goes out (nil
// when there are no limits) and whether the request may go on; when not,
// the answer is written.
func (g *Guard) Mail(w http.ResponseWriter, r *http.Request, c edge.Client, kind kratos.Kind, address string) (*MailRequest, bool) {
	if g.opts.MailQuota == nil {
		return nil, true
	}
	addr := identity.NormalizeIdentifier(address)
	if !identity.PlausibleIdentifier(addr) {
		g.opts.Pages.ShowError(w, r, http.StatusBadRequest, "bad_email", "The email address is not valid.")
		return nil, false
	}
	now := g.now()
	ok, retryAt, err := g.opts.MailQuota.Take(r.Context(), addr, c.IP, now)
	if err != nil {
		g.opts.Logger.Error("mail limit check", "error", err)
		g.unavailable(w, r, "Sending codes is unavailable right now. Please try again in a minute.")
		return nil, false
	}
	if ok {
		return &MailRequest{g: g, address: addr, ip: c.IP}, true
	}
	g.metrics.mailRefused.WithLabelValues(string(kind)).Inc()
	msg := kratos.Text{ID: MsgMailThrottle, Type: "error",
		Text: fmt.Sprintf("Too many emails were requested. Try again in %s.", minutesLeft(retryAt, now))}
	g.refuseInFlow(w, r, kind, r.URL.Query().Get("flow"), retryAt, now, "too_many_emails", msg, "email", address)
	return nil, false
}

// Return gives back a code request Kratos did not act on (it refused it).
func (m *MailRequest) Return(ctx context.Context) {
	m.once.Do(func() {
		if err := m.g.opts.MailQuota.Return(ctx, m.address, m.ip); err != nil {
			m.g.opts.Logger.Warn("mail limit refund", "error", err)
		}
	})
}

// Unanswered settles a code request Kratos gave no answer to: given back
// when it never got there (connection refused).
func (m *MailRequest) Unanswered(ctx context.Context, err error) {
	if neverSent(err) {
		m.Return(ctx)
	}
}

// background runs f without holding up the answer; Wait waits for it.
func (g *Guard) background(f func()) {
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		f()
	}()
}

// Wait waits for the work the guard does after answering (events linked
// to accounts, lockout notices): call it after the server stopped and
// before the event log closes.
func (g *Guard) Wait() { g.bg.Wait() }

// directoryTTL is how long an address's identity (or its absence) is
// remembered; directoryCap bounds the cache.
const (
	directoryTTL     = 5 * time.Minute
	directoryMissTTL = 30 * time.Second // "no such account" is re-checked sooner
	directoryCap     = 10000
)

type directoryEntry struct {
	id string
	at time.Time
}

// identityOf is the id of the identity whose password identifier is
// address, "" when there is none; answers are cached for directoryTTL.
func (g *Guard) identityOf(ctx context.Context, address string) (string, error) {
	now := time.Now()
	g.dirMu.Lock()
	if e, ok := g.dirCache[address]; ok && now.Sub(e.at) < directoryTTL && (e.id != "" || now.Sub(e.at) < directoryMissTTL) {
		g.dirMu.Unlock()
		return e.id, nil
	}
	g.dirMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id, err := g.opts.Directory.IdentityByEmail(ctx, address)
	if errors.Is(err, kratos.ErrNotFound) {
		id, err = "", nil
	}
	if err != nil {
		return "", err
	}
	g.dirMu.Lock()
	if len(g.dirCache) >= directoryCap {
		for k, e := range g.dirCache {
			if now.Sub(e.at) >= directoryTTL || len(g.dirCache) >= directoryCap {
				delete(g.dirCache, k)
			}
		}
	}
	g.dirCache[address] = directoryEntry{id: id, at: now}
	g.dirMu.Unlock()
	return id, nil
}

// recordLinked records e after linking it to the account its address
// names, when there is one (a user's own failures and lockouts then show
// under their identity id). The lookup does not hold up the answer.
func (g *Guard) recordLinked(ctx context.Context, e identity.Event, c edge.Client) {
	if e.IdentityID != "" || e.Email == "" || g.opts.Directory == nil {
		edge.Record(ctx, g.opts.Events, e, c)
		return
	}
	ctx = context.WithoutCancel(ctx)
	g.background(func() {
		if id, err := g.identityOf(ctx, e.Email); err == nil {
			e.IdentityID = id
		}
		edge.Record(ctx, g.opts.Events, e, c)
	})
}
