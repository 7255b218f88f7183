// Package mail sends the identity edge's own messages over SMTP (Kratos
// sends verification and recovery mail itself): today the notice that an
// account was locked.
package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Notifier mails users.
type Notifier struct {
	relay     *url.URL
	from      string
	recovery  string // the hosted recovery page
	logger    *slog.Logger
	dialTimer time.Duration
}

// New makes a notifier for the SMTP relay at smtpURL (smtp:// or smtps://,
// optional user:password, ?starttls=true to require STARTTLS).
func New(smtpURL, from, recoveryURL string, logger *slog.Logger) (*Notifier, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		return nil, fmt.Errorf("mail: bad SMTP URL")
	}
	return &Notifier{relay: u, from: from, recovery: recoveryURL, logger: logger, dialTimer: 10 * time.Second}, nil
}

// LockedOut tells email's owner their account is locked, until when, and
// how to get back in at once (recovery by email clears the lock).
func (n *Notifier) LockedOut(ctx context.Context, email string, until time.Time) {
	body := fmt.Sprintf("Hello,\r\n\r\n"+
		"Your Learning Platform account was temporarily locked after several failed sign-in attempts.\r\n"+
		"You can sign in again after %s UTC.\r\n\r\n"+
		"If this was you and you forgot your password, recover your account now (this also unlocks it):\r\n%s\r\n\r\n"+
		"If it was not you, someone may be guessing your password. Recovering your account and choosing a new\r\n"+
		"password keeps it safe. Your existing sessions were not signed out.\r\n",
		until.UTC().Format("2006-01-02 15:04"), n.recovery)
	if err := n.send(ctx, email, "Your account was temporarily locked", body); err != nil {
		n.logger.Error("lockout notice not sent", "error", err)
	}
}

func headerSafe(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }

func (n *Notifier) send(ctx context.Context, to, subject, body string) error {
	msg := "From: " + headerSafe(n.from) + "\r\n" +
		"To: " + headerSafe(to) + "\r\n" +
		"Subject: " + headerSafe(subject) + "\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
	addr := n.relay.Host
	d := net.Dialer{Timeout: n.dialTimer}
	var conn net.Conn
	var err error
	host, _, _ := net.SplitHostPort(addr)
	if n.relay.Scheme == "smtps" {
		conn, err = tls.DialWithDialer(&d, "tcp", addr, &tls.Config{ServerName: host})
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if n.relay.Query().Get("starttls") == "true" {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return err
		}
	}
	if u := n.relay.User; u != nil {
		pw, _ := u.Password()
		if err := c.Auth(smtp.PlainAuth("", u.Username(), pw, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(fromAddress(n.from)); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// fromAddress takes the address out of "Name <addr>".
func fromAddress(from string) string {
	if i, j := strings.LastIndex(from, "<"), strings.LastIndex(from, ">"); i >= 0 && j > i {
		return from[i+1 : j]
	}
	return from
}
