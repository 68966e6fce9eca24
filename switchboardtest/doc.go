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
//		time.Sleep(time.Second) // let a second of echo come back
//		if !dsp.HasTone(call.Recording(), 8000, 440) { t.Fatal("no echo") }
//	}
//
// Every helper takes a testing.TB, fails the test on error and cleans up
// with t.Cleanup. [CheckGoroutines] fails a test that leaks goroutines.
package switchboardtest
