package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeClient is shared by HTTP checks; each probe also has its own deadline.
var probeClient = &http.Client{Timeout: ReadyTimeout}

// HTTPCheck is ready when GET url answers 2xx.
func HTTPCheck(name, url string) Check {
	return Check{Name: name, Probe: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := probeClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s unreachable: %w", name, unwrapURLError(err))
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
		if res.StatusCode < 200 || res.StatusCode > 299 {
			return fmt.Errorf("%s answered %s", name, res.Status)
		}
		return nil
	}}
}

// Pinger is what a database pool offers a check (pgxpool.Pool does).
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingCheck is ready when Ping succeeds.
func PingCheck(name string, p Pinger) Check {
	return Check{Name: name, Probe: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
		defer cancel()
		start := time.Now()
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("%s unreachable after %s: %w", name, time.Since(start).Round(time.Millisecond), err)
		}
		return nil
	}}
}

func unwrapURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}
