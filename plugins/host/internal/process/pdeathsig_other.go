//go:build !linux

package process

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}
