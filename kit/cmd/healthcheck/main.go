// Command healthcheck is the probe our container images run as their
// HEALTHCHECK: it GETs one URL and exits 0 when the answer is 2xx, 1
// otherwise. The images are distroless, with no shell, curl or wget, so they
// carry this static binary instead.
//
//	healthcheck http://127.0.0.1:4455/readyz
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if err := probe(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		// Docker reserves exit status 2, so every failure is 1.
		os.Exit(1)
	}
}

func probe(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: healthcheck URL")
	}
	// Below the compose file's 5 s healthcheck timeout, so a slow answer is
	// reported by us, with a reason, rather than killed by Docker.
	client := &http.Client{Timeout: 4 * time.Second}
	res, err := client.Get(args[0])
	if err != nil {
		return err
	}
	defer res.Body.Close()
	// /readyz names the failing dependency in its body; Docker keeps this
	// output in `docker inspect`, where an operator looks first.
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s answered %s: %s", args[0], res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
