package kratos

import (
	"context"
	"time"
)

// Device is one session as the account page lists it.
type Device struct {
	ID              string
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	IP              string
	UserAgent       string
	Current         bool
}

// MySessions lists the browser's own session and the identity's others.
func (c *Client) MySessions(ctx context.Context, cookie string) ([]Device, error) {
	cur, err := c.Whoami(ctx, cookie, "")
	if err != nil {
		return nil, err
	}
	out := []Device{{ID: cur.ID, AuthenticatedAt: cur.AuthenticatedAt, ExpiresAt: cur.ExpiresAt, Current: true}}
	others, res, err := c.public.FrontendAPI.ListMySessions(ctx).Cookie(cookie).PerPage(100).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	for _, s := range others {
		d := Device{ID: s.Id}
		if s.AuthenticatedAt != nil {
			d.AuthenticatedAt = *s.AuthenticatedAt
		}
		if s.ExpiresAt != nil {
			d.ExpiresAt = *s.ExpiresAt
		}
		if len(s.Devices) > 0 {
			d.IP = s.Devices[0].GetIpAddress()
			d.UserAgent = s.Devices[0].GetUserAgent()
		}
		out = append(out, d)
	}
	return out, nil
}

// EndSession signs out one of the identity's other sessions.
func (c *Client) EndSession(ctx context.Context, cookie, id string) error {
	res, err := c.public.FrontendAPI.DisableMySession(ctx, id).Cookie(cookie).Execute()
	return classify(res, err)
}

// EndOtherSessions signs out every session of the identity but this one.
func (c *Client) EndOtherSessions(ctx context.Context, cookie string) (int64, error) {
	n, res, err := c.public.FrontendAPI.DisableMyOtherSessions(ctx).Cookie(cookie).Execute()
	if err := classify(res, err); err != nil {
		return 0, err
	}
	return n.GetCount(), nil
}
