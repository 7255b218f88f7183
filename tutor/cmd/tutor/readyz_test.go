package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/learnplatform/platform/plugins/host"
)

// /readyz has a "plugins" check that fails while a required plugin is
// down and names it: here it was killed and its binary swapped, so the
// host refuses to restart it and the tutor stays not ready.
func TestReadyzWhileARequiredPluginIsDown(t *testing.T) {
	// The plugin is a copy of this test binary (run as the hello
	// retriever), so that swapping it leaves the test binary alone.
	plugin := filepath.Join(t.TempDir(), "retriever-hello")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := copyFile(exe, plugin); err != nil {
		t.Fatal(err)
	}
	sum, err := host.FileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	cmd := tutorCmd(context.Background(), t, "-config", writeConfig(t, decl("hello", "retriever", plugin, sum, true)+"    env: {"+runAs+": retriever}\n"))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrRE := regexp.MustCompile(`"msg":"listening".*"addr":"([^"]+)"`)
	pidRE := regexp.MustCompile(`"msg":"plugin started".*"plugin":"hello","pid":(\d+)`)
	var addr string
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" || pid == 0 {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		if m := pidRE.FindStringSubmatch(stderr.String()); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tutor did not start serving:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ready := func() map[string]string {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Checks map[string]string }
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return body.Checks
	}
	if c := ready(); c["plugins"] != "ok" {
		t.Fatalf("plugins check with the plugin up: %v", c)
	}
	// Swapped (a new file renamed over the running one): never run.
	if err := os.WriteFile(plugin+".new", []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(plugin+".new", plugin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for {
		c := ready()
		if strings.Contains(c["plugins"], "required plugin hello is down") && strings.Contains(c["plugins"], "has sha256") {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("readyz: %v\n%s", c, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
