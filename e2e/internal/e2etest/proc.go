package e2etest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// USER_HZ: the unit of CPU times in /proc on Linux.
const clockTick = time.Second / 100

// ProcStats reads a process's CPU time so far (user and system) and its
// resident memory now and at its peak, in bytes; zero what cannot be read.
func ProcStats(pid int) (cpu time.Duration, rss, peak int64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		user, _ := strconv.ParseInt(f[11], 10, 64)
		system, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(user+system) * clockTick
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "VmRSS:" {
				rss, _ = strconv.ParseInt(f[1], 10, 64)
			}
			if len(f) >= 2 && f[0] == "VmHWM:" {
				peak, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return cpu, rss * 1024, peak * 1024
}

// MachineBusy is the CPU time all cores have spent on anything but idling
// and waiting for I/O since boot.
func MachineBusy() time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * clockTick
}
