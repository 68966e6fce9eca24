// Package echo is the echo test app: it answers and sends every decoded
// audio frame straight back to the caller, which measures the round trip
// of a phone's audio through Switchboard.
//
//	ep.HandleCalls(echo.Handler())
package echo

import (
	"context"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
)

// Handler returns the echo handler.
func Handler() endpoint.Handler { return endpoint.HandlerFunc(Serve) }

// Serve answers c and echoes its audio until the caller hangs up.
func Serve(ctx context.Context, c *endpoint.Call) {
	if err := c.Accept(ctx); err != nil {
		return
	}
	f := c.Flow()
	// The sink runs on the session's reader goroutine: one frame in, the
	// same frame out, so echo paces itself on the caller's packets.
	release, err := f.Receive("echo", audio.SinkFunc(func(pcm []int16) { _ = f.WriteFrame(pcm) }), media.AudioOptions{})
	if err != nil {
		return
	}
	defer release()
	<-ctx.Done()
}
