package ivr_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// The load run is scripted (scripts/ivr-load.sh): IVR_LOAD_CALLERS=N
// go test -run TestLoadDemoMenu ./apps/ivr/. The IVR runs in the test
// process, the callers in a child process (the same test binary), so the
// process's CPU time and RSS are the IVR's alone.
const (
	loadCallersEnv = "IVR_LOAD_CALLERS"
	loadTargetEnv  = "IVR_LOAD_TARGET" // set for the child
	loadWindow     = 4 * time.Second   // CPU is measured over it
	loadPressSpan  = 3 * time.Second   // key presses are spread over it
)

// loadResult is what the child reports.
type loadResult struct {
	Callers     int       `json:"callers"`
	Established int       `json:"established"`
	Playing     int       `json:"playing"`    // heard the prompt just before the key
	Measured    int       `json:"measured"`   // latencies measured
	FromPress   []float64 `json:"from_press"` // ms, key press start → last prompt frame's end
	FromEnd     []float64 `json:"from_end"`   // ms, the key's RFC 4733 end packet → same
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

// TestLoadDemoMenu: N callers (100–500) in the demo menu, prompts
// playing: the IVR's CPU (fraction of a core) and RSS per caller, and
// key-press-to-prompt-stop latency p50/p99 as the callers hear it.
func TestLoadDemoMenu(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(loadCallersEnv))
	if n == 0 || os.Getenv(loadTargetEnv) != "" {
		t.Skip("a scripted load run: set " + loadCallersEnv + "=100…500")
	}
	if n < 1 || n > 500 {
		t.Fatalf("%s=%d: 1…500 callers", loadCallersEnv, n)
	}
	srv := startApp(t, "", ivrapp.Config{})
	time.Sleep(500 * time.Millisecond)
	baseRSS := rssKB(t)
	idle0, it0 := rusageCPU(), time.Now()
	time.Sleep(time.Second)
	idle := float64(rusageCPU()-idle0) / float64(time.Since(it0))

	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadCallers$", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), loadTargetEnv+"="+srv.URI("ivr"), loadCallersEnv+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	next := func(prefix string) string {
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("the callers' process ended before %q", prefix)
		return ""
	}
	established := next("READY ")
	cpu0, t0 := rusageCPU(), time.Now()
	time.Sleep(loadWindow)
	cpu1, t1 := rusageCPU(), time.Now()
	rss := rssKB(t)
	fmt.Fprintln(stdin, "PRESS")
	var res loadResult
	if err := json.Unmarshal([]byte(next("RESULT ")), &res); err != nil {
		t.Fatal(err)
	}
	core := float64(cpu1-cpu0) / float64(t1.Sub(t0))
	t.Logf("callers %d, established %s; IVR process over %v: CPU %.3f of a core (idle before: %.3f; %.5f per caller), RSS %d KiB → %d KiB (%.1f KiB per caller)",
		n, established, loadWindow, core, idle, core/float64(n), baseRSS, rss, float64(rss-baseRSS)/float64(n))
	t.Logf("prompt playing before the key: %d; stop measured: %d; key press start → prompt stop p50 %.0f ms, p99 %.0f ms, max %.0f ms; RFC 4733 end packet → stop p50 %.0f ms, p99 %.0f ms",
		res.Playing, res.Measured, pct(res.FromPress, 0.5), pct(res.FromPress, 0.99), pct(res.FromPress, 1), pct(res.FromEnd, 0.5), pct(res.FromEnd, 0.99))
	fmt.Printf("IVRLOAD callers=%d established=%s idle_cpu_core=%.3f cpu_core=%.3f cpu_per_caller=%.5f rss_base_kib=%d rss_kib=%d rss_per_caller_kib=%.1f playing=%d measured=%d press_p50_ms=%.0f press_p99_ms=%.0f end_p50_ms=%.0f end_p99_ms=%.0f\n",
		n, established, idle, core, core/float64(n), baseRSS, rss, float64(rss-baseRSS)/float64(n), res.Playing, res.Measured,
		pct(res.FromPress, 0.5), pct(res.FromPress, 0.99), pct(res.FromEnd, 0.5), pct(res.FromEnd, 0.99))
	if res.Established != n {
		t.Errorf("%d of %d callers established", res.Established, n)
	}
}

// TestLoadCallers is the child of TestLoadDemoMenu: it places the calls
// from one platform, keeps each sending silence (so its media stays
// alive), prints READY, and on PRESS presses 1 (echo: the prompt stops,
// the echo of silence follows) on every call, spread over loadPressSpan,
// timing the prompt's last frame.
func TestLoadCallers(t *testing.T) {
	target := os.Getenv(loadTargetEnv)
	if target == "" {
		t.Skip("the child of TestLoadDemoMenu")
	}
	n, _ := strconv.Atoi(os.Getenv(loadCallersEnv))
	srv := switchboardtest.NewServer(t)
	ep, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:load@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	type heard struct {
		at     time.Time
		energy bool
	}
	type caller struct {
		c      *endpoint.Call
		mu     sync.Mutex
		frames []heard
	}
	callers := make([]*caller, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20) // calls being set up at once
	for i := range callers {
		cl := &caller{c: ep.NewConversation().NewCall()}
		callers[i] = cl
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cl.c.Establish(ctx, target, endpoint.EstablishOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, "establish:", err)
				return
			}
			f := cl.c.Flow()
			f.ObserveHeard(audio.SinkFunc(func(pcm []int16) {
				h := heard{at: time.Now(), energy: 20*math.Log10(max(dsp.RMS(pcm), 1e-10)) > -45}
				cl.mu.Lock()
				cl.frames = append(cl.frames, h)
				if len(cl.frames) > 400 { // the last 8 s
					cl.frames = slices.Delete(cl.frames, 0, 200)
				}
				cl.mu.Unlock()
			}))
			go func() { _ = f.Play(ctx, make([]int16, 8000*100)) }()
		})
		time.Sleep(5 * time.Millisecond) // at most 200 calls/s
	}
	wg.Wait()
	est := 0
	for _, cl := range callers {
		if cl.c.State() == endpoint.StateEstablished {
			est++
		}
	}
	fmt.Printf("READY %d\n", est)
	if !bufio.NewScanner(os.Stdin).Scan() {
		return
	}
	res := loadResult{Callers: n, Established: est}
	var mu sync.Mutex
	start := time.Now()
	for i, cl := range callers {
		if cl.c.State() != endpoint.StateEstablished {
			continue
		}
		wg.Go(func() {
			time.Sleep(time.Until(start.Add(time.Duration(i) * loadPressSpan / time.Duration(n))))
			pressed := time.Now()
			if err := cl.c.SendDTMF(ctx, "1"); err != nil {
				return
			}
			ended := time.Now()
			time.Sleep(1 * time.Second)
			cl.mu.Lock()
			defer cl.mu.Unlock()
			playing, last := false, time.Time{}
			for _, h := range cl.frames {
				if h.energy && h.at.After(pressed.Add(-500*time.Millisecond)) && h.at.Before(pressed) {
					playing = true
				}
				if h.energy && h.at.After(pressed.Add(-500*time.Millisecond)) {
					last = h.at
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if playing {
				res.Playing++
			}
			if playing {
				// The prompt's last frame ends the prompt; one that ended
				// before the key was in flight (or a pause) counts as 0.
				res.Measured++
				stop := last.Add(20 * time.Millisecond)
				res.FromPress = append(res.FromPress, max(0, float64(stop.Sub(pressed).Microseconds())/1000))
				res.FromEnd = append(res.FromEnd, max(0, float64(stop.Sub(ended).Microseconds())/1000))
			}
		})
	}
	wg.Wait()
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
	for _, cl := range callers {
		_ = cl.c.Terminate(ctx)
	}
}
