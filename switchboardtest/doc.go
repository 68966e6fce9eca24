// Package switchboardtest is Switchboard's public test kit, in the spirit
// of net/http/httptest: it starts a platform on 127.0.0.1:0 inside a test
// and gives it test phones — Switchboard's own user agent on the same stack
// — that dial, answer, play tones or files and record what they hear.
//
//	func TestEcho(t *testing.T) {
//		srv := switchboardtest.NewServer(t)
//		srv.Handle(t, "echo", echo.Handler()) // apps/echo
//		phone := switchboardtest.NewPhone(t, "alice")
//		call := phone.Dial(t, srv.URI("echo"))
//		call.StartTone(440)
//		call.WaitTone(t, 440, 5*time.Second) // the echo comes back
//		if f := dsp.ToneFraction(call.Listen(t, time.Second), 8000, 440); f < 0.9 {
//			t.Fatalf("echo in %.0f%% of the audio", f*100)
//		}
//	}
//
// Tests wait on events, not on the clock: [PhoneCall.WaitTone] and
// [PhoneCall.WaitNoTone] wait for what a call hears, [PhoneCall.Listen]
// counts received audio rather than wall time, and [WaitRoster] waits on a
// conference's roster changes. Recordings are read back with
// [ReadRecording] and [ReadRecordingInfo] and measured with [ToneLevel],
// [ToneOnset] and [CheckAligned]; [Relay] puts loss and jitter between two
// calls.
//
// Every helper takes a testing.TB, fails the test on error and cleans up
// with t.Cleanup. [CheckGoroutines] fails a test that leaks goroutines.
package switchboardtest
