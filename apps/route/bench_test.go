package route

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// BenchmarkSIPpRoutedCalls sends ROUTE_BENCH_CALLS (2000) calls of SIPp's
// stock uac at ROUTE_BENCH_RATE (500) calls/s through a route to a SIPp
// UAS (bench/uas_answer.xml), no media, and reports the CPU this process
// (the server) spent per call and the failed calls. With -cpuprofile it
// shows where a routed call's CPU goes; bench/route-cps.sh measures the
// built binary against Kamailio.
func BenchmarkSIPpRoutedCalls(b *testing.B) {
	calls, rate := 2000, 500
	if v := os.Getenv("ROUTE_BENCH_CALLS"); v != "" {
		fmt.Sscan(v, &calls)
	}
	if v := os.Getenv("ROUTE_BENCH_RATE"); v != "" {
		fmt.Sscan(v, &rate)
	}
	srv := sbt.NewServer(b, platform.Config{})
	uasPort := peers.FreeSIPPort(b)
	if _, err := New(srv.Platform, Config{Rules: []Rule{{Prefix: "svc", Target: fmt.Sprintf("sip:${user}@127.0.0.1:%d", uasPort)}}}); err != nil {
		b.Fatal(err)
	}
	scenario, err := filepath.Abs("../../bench/uas_answer.xml")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	peers.StartSIPp(b, ctx, "-sf", scenario, "-p", fmt.Sprint(uasPort), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1), "-buff_size", "8388608")
	if err := peers.WaitUDPListening(ctx, uasPort); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var r0, r1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		start := time.Now()
		res := peers.RunSIPp(b, ctx, "-sn", "uac", "-s", "svc", "-r", fmt.Sprint(rate), "-m", fmt.Sprint(calls), "-l", fmt.Sprint(rate*2),
			"-buff_size", "8388608", "-p", fmt.Sprint(peers.FreeSIPPort(b)), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1),
			fmt.Sprintf("127.0.0.1:%d", srv.Port()))
		took := time.Since(start)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(float64(res.Failed), "failed")
		b.ReportMetric(float64(res.Successful)/took.Seconds(), "calls/s")
		if res.Successful > 0 {
			b.ReportMetric(float64(cpu.Microseconds())/float64(res.Successful), "cpu-µs/call")
		}
	}
}
