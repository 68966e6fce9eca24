package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// redisURL starts a redis-server on a free loopback port (stopped by PID
// at cleanup) and returns its URL and a func that kills it.
func redisURL(t *testing.T) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal("redis-server (scripts/test installs it): ", err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), stop
}

// TestParkStoreConfig: apps.park.store rejects what is neither memory nor
// a Redis URL, and an unreachable Redis stops the start cleanly.
func TestParkStoreConfig(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("redis://%s/0", l.Addr())
	_ = l.Close()
	for store, want := range map[string]string{"etcd://x": "neither memory nor", dead: park.ErrStoreUnavailable.Error()} {
		cfg, err := loadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Platform.UDP, cfg.Platform.TCP = nil, nil
		cfg.Apps.Recording.Dir, cfg.Apps.IVR.MessageDir = t.TempDir(), t.TempDir()
		cfg.Apps.Park.Store = store
		uc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s, err := newServer(cfg, sbt.Logger(t), platform.WithUDPConn(uc))
		_ = uc.Close()
		if err == nil {
			s.Platform.Close()
			t.Fatalf("store %q accepted", store)
		}
		if !strings.Contains(err.Error(), "apps.park.store") || !strings.Contains(err.Error(), want) {
			t.Errorf("store %q: %v; want apps.park.store and %q", store, err, want)
		}
	}
}

// TestParkInRedis: with apps.park.store set to a Redis URL, a blind
// transfer to park parks the call in Redis, owned by this node, and the
// hangup frees it. With Redis killed, parks and retrievals are refused
// with 503 "Park Store Unavailable" while the parked call keeps its music.
func TestParkInRedis(t *testing.T) {
	url, stopRedis := redisURL(t)
	s, port := startServer(t, func(c *Config) {
		c.Apps.Park.Store, c.Apps.Park.Node, c.Apps.Park.ReleaseAfter = url, "node-a", time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := redisstore.New(ctx, url, "observer", redisstore.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7099"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	if err := obs.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	parker := sbt.NewPhone(t, "parker")
	parkee := sbt.NewPhone(t, "parkee")
	pc := parker.Dial(t, parkee.URI())
	parkee.NextCall(t)
	if err := pc.Transfer(ctx, fmt.Sprintf("sip:park@127.0.0.1:%d", port), endpoint.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	parked := parkee.NextCall(t)
	var l []redisstore.Parked
	for deadline := time.Now().Add(5 * time.Second); len(l) == 0; l, err = obs.ListContext(ctx) {
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("not parked in Redis: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l[0].Orbit != "7000" || l[0].Node != "node-a" || !strings.Contains(l[0].Parker, "parker@") {
		t.Fatalf("Redis holds %+v", l[0])
	}
	if got := s.Park.List(); len(got) != 1 || got[0].Token != l[0].Token {
		t.Errorf("the service lists %+v", got)
	}
	parked.WaitTone(t, holdmusic.DefaultMarkerHz, 5*time.Second)
	parked.Hangup(t)
	for deadline := time.Now().Add(5 * time.Second); len(l) != 0; l, err = obs.ListContext(ctx) {
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("orbit still held in Redis after the parked party hung up: %+v, %v", l, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Park one more call, then kill Redis.
	pc = parker.Dial(t, parkee.URI())
	parkee.NextCall(t)
	if err := pc.Transfer(ctx, fmt.Sprintf("sip:park@127.0.0.1:%d", port), endpoint.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	parked = parkee.NextCall(t)
	parked.WaitTone(t, holdmusic.DefaultMarkerHz, 5*time.Second)
	stopRedis()
	caller := sbt.NewPhone(t, "caller")
	for _, uri := range []string{"sip:park@127.0.0.1:%d", "sip:park-7005@127.0.0.1:%d", "sip:7000@127.0.0.1:%d"} {
		uri = fmt.Sprintf(uri, port)
		var re *endpoint.ResponseError
		if _, err := caller.DialContext(ctx, uri, endpoint.EstablishOptions{}); !errors.As(err, &re) ||
			re.Code != 503 || re.Reason != "Park Store Unavailable" {
			t.Errorf("%s with Redis down: %v, want 503 Park Store Unavailable", uri, err)
		}
	}
	parked.ResetRecording()
	parked.WaitTone(t, holdmusic.DefaultMarkerHz, 5*time.Second) // still on hold
	parked.Hangup(t)
}
