package lua

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	gnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
	glua "github.com/yuin/gopher-lua"
)

func init() { register("host", openHost) }

// maxProcesses bounds how many processes host.processes lists, so that a
// check on a machine gone wild does not build an enormous table.
const maxProcesses = 10000

// hostAPI is the host module: metrics of the machine, read with gopsutil.
// Sizes are in bytes, times in seconds, percentages from 0 to 100.
var hostAPI = map[string]glua.LGFunction{
	"cpu_times":    hostCPUTimes,
	"cpu_percent":  hostCPUPercent,
	"cpu_count":    hostCPUCount,
	"memory":       hostMemory,
	"swap":         hostSwap,
	"disks":        hostDisks,
	"disk_usage":   hostDiskUsage,
	"load":         hostLoad,
	"uptime":       hostUptime,
	"net_counters": hostNetCounters,
	"processes":    hostProcesses,
	"hostname":     hostHostname,
}

func openHost(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), hostAPI))
		return 1
	}
}

// hostCPUTimes is host.cpu_times() -> {user, system, idle, nice, iowait,
// irq, softirq, steal, guest, guest_nice}: the seconds all CPUs together
// spent in each state since boot.
func hostCPUTimes(L *glua.LState) int {
	ts, err := cpu.TimesWithContext(callContext(L), false)
	if err == nil && len(ts) == 0 {
		err = fmt.Errorf("no cpu times")
	}
	if err != nil {
		return returnFailure(L, "cpu times", err)
	}
	t := ts[0]
	L.Push(newRecord(L, map[string]any{
		"user": t.User, "system": t.System, "idle": t.Idle, "nice": t.Nice,
		"iowait": t.Iowait, "irq": t.Irq, "softirq": t.Softirq,
		"steal": t.Steal, "guest": t.Guest, "guest_nice": t.GuestNice,
	}))
	return 1
}

// hostCPUPercent is host.cpu_percent(interval_ms) -> number: the percentage
// of time all CPUs together were busy over the next interval_ms
// milliseconds (default 500). It sleeps for that long.
func hostCPUPercent(L *glua.LState) int {
	ms := L.OptNumber(1, 500)
	if ms <= 0 {
		L.ArgError(1, "interval_ms must be positive")
	}
	p, err := cpu.PercentWithContext(callContext(L), time.Duration(float64(ms)*float64(time.Millisecond)), false)
	if err == nil && len(p) == 0 {
		err = fmt.Errorf("no cpu percentage")
	}
	if err != nil {
		return returnFailure(L, "cpu percent", err)
	}
	L.Push(glua.LNumber(p[0]))
	return 1
}

// hostCPUCount is host.cpu_count(logical) -> number: the number of logical
// CPUs, or of physical cores when logical is false.
func hostCPUCount(L *glua.LState) int {
	logical := L.OptBool(1, true)
	n, err := cpu.CountsWithContext(callContext(L), logical)
	if err != nil {
		return returnFailure(L, "cpu count", err)
	}
	L.Push(glua.LNumber(n))
	return 1
}

// hostMemory is host.memory() -> {total, available, used, free,
// used_percent, buffers, cached}, where used is total less available.
func hostMemory(L *glua.LState) int {
	m, err := mem.VirtualMemoryWithContext(callContext(L))
	if err != nil {
		return returnFailure(L, "memory", err)
	}
	L.Push(newRecord(L, map[string]any{
		"total": m.Total, "available": m.Available, "used": m.Used,
		"free": m.Free, "used_percent": m.UsedPercent,
		"buffers": m.Buffers, "cached": m.Cached,
	}))
	return 1
}

// hostSwap is host.swap() -> {total, used, free, used_percent}; total is 0
// on a machine without swap.
func hostSwap(L *glua.LState) int {
	s, err := mem.SwapMemoryWithContext(callContext(L))
	if err != nil {
		return returnFailure(L, "swap", err)
	}
	L.Push(newRecord(L, map[string]any{
		"total": s.Total, "used": s.Used, "free": s.Free,
		"used_percent": s.UsedPercent,
	}))
	return 1
}

// hostDisks is host.disks() -> list of {device, mountpoint, fstype, opts}:
// the mounted file systems backed by a device (opts comma-separated).
func hostDisks(L *glua.LState) int {
	parts, err := disk.PartitionsWithContext(callContext(L), false)
	if err != nil {
		return returnFailure(L, "disks", err)
	}
	list := L.CreateTable(len(parts), 0)
	for _, p := range parts {
		list.Append(newRecord(L, map[string]any{
			"device": p.Device, "mountpoint": p.Mountpoint,
			"fstype": p.Fstype, "opts": strings.Join(p.Opts, ","),
		}))
	}
	L.Push(list)
	return 1
}

// hostDiskUsage is host.disk_usage(path) -> {path, fstype, total, free,
// used, used_percent, inodes_total, inodes_used, inodes_free,
// inodes_used_percent} for the file system holding path.
func hostDiskUsage(L *glua.LState) int {
	path := L.CheckString(1)
	u, err := disk.UsageWithContext(callContext(L), path)
	if err != nil {
		return returnFailure(L, "disk usage of "+path, err)
	}
	L.Push(newRecord(L, map[string]any{
		"path": u.Path, "fstype": u.Fstype, "total": u.Total, "free": u.Free,
		"used": u.Used, "used_percent": u.UsedPercent,
		"inodes_total": u.InodesTotal, "inodes_used": u.InodesUsed,
		"inodes_free": u.InodesFree, "inodes_used_percent": u.InodesUsedPercent,
	}))
	return 1
}

// hostLoad is host.load() -> {load1, load5, load15}: the load averages.
func hostLoad(L *glua.LState) int {
	a, err := load.AvgWithContext(callContext(L))
	if err != nil {
		return returnFailure(L, "load", err)
	}
	L.Push(newRecord(L, map[string]any{"load1": a.Load1, "load5": a.Load5, "load15": a.Load15}))
	return 1
}

// hostUptime is host.uptime() -> number: the seconds since boot.
func hostUptime(L *glua.LState) int {
	up, err := host.UptimeWithContext(callContext(L))
	if err != nil {
		return returnFailure(L, "uptime", err)
	}
	L.Push(glua.LNumber(up))
	return 1
}

// hostNetCounters is host.net_counters() -> list of {name, bytes_sent,
// bytes_recv, packets_sent, packets_recv, err_in, err_out, drop_in,
// drop_out}, one per network interface, sorted by name. The counters only
// grow (until a reboot or an overflow).
func hostNetCounters(L *glua.LState) int {
	cs, err := gnet.IOCountersWithContext(callContext(L), true)
	if err != nil {
		return returnFailure(L, "network counters", err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	list := L.CreateTable(len(cs), 0)
	for _, c := range cs {
		list.Append(newRecord(L, map[string]any{
			"name": c.Name, "bytes_sent": c.BytesSent, "bytes_recv": c.BytesRecv,
			"packets_sent": c.PacketsSent, "packets_recv": c.PacketsRecv,
			"err_in": c.Errin, "err_out": c.Errout,
			"drop_in": c.Dropin, "drop_out": c.Dropout,
		}))
	}
	L.Push(list)
	return 1
}

// hostProcesses is host.processes(max) -> list of {pid, name, cmdline,
// username, status, self}: the running processes, at most max of them
// (default and ceiling 10000); self is true for the agent's own process,
// which a check counting processes leaves out (its command line holds the
// check's args). Processes that end while being read are left out.
func hostProcesses(L *glua.LState) int {
	limit := L.OptInt(1, maxProcesses)
	if limit <= 0 || limit > maxProcesses {
		L.ArgError(1, fmt.Sprintf("max must be from 1 to %d", maxProcesses))
	}
	ctx := callContext(L)
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return returnFailure(L, "processes", err)
	}
	users := map[uint32]string{} // one lookup per user, not per process
	self := int32(os.Getpid())
	list := L.CreateTable(min(len(procs), limit), 0)
	for _, p := range procs {
		if list.Len() >= limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return returnFailure(L, "processes", err)
		}
		name, err := p.NameWithContext(ctx)
		if err != nil {
			continue // gone since the listing
		}
		cmdline, _ := p.CmdlineWithContext(ctx)
		status, _ := p.StatusWithContext(ctx)
		list.Append(newRecord(L, map[string]any{
			"pid": p.Pid, "name": name, "cmdline": cmdline,
			"username": processUser(ctx, p, users),
			"status":   strings.Join(status, ","),
			"self":     p.Pid == self,
		}))
	}
	L.Push(list)
	return 1
}

// processUser returns the name of p's real user, or its uid as text when
// the uid has no name, caching names in users.
func processUser(ctx context.Context, p *process.Process, users map[uint32]string) string {
	uids, err := p.UidsWithContext(ctx)
	if err != nil || len(uids) == 0 {
		return ""
	}
	uid := uids[0]
	if name, ok := users[uid]; ok {
		return name
	}
	id := strconv.FormatUint(uint64(uid), 10)
	name := id
	if u, err := user.LookupId(id); err == nil {
		name = u.Username
	}
	users[uid] = name
	return name
}

// hostHostname is host.hostname() -> string: the machine's host name.
func hostHostname(L *glua.LState) int {
	name, err := os.Hostname()
	if err != nil {
		return returnFailure(L, "hostname", err)
	}
	L.Push(glua.LString(name))
	return 1
}
