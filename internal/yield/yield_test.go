package yield

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
)

// work is a fixed amount of computation (tens of microseconds).
func work() uint64 {
	x := uint64(1)
	for i := range 20000 {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

var sink atomic.Uint64

// roundTrips measures, with one P and a busy loop that calls pause after
// each unit of work, how many units the loop does per network round trip
// of a client on the same P.
func roundTrips(t *testing.T, pause func()) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		for {
			if _, err := c.Read(b); err != nil {
				return
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var units atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sink.Add(work())
			units.Add(1)
			pause()
		}
	}()
	const trips = 50
	b := []byte{1}
	for range trips {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	return float64(units.Load()) / trips
}

// With one P, runtime.Gosched leaves a goroutine whose connection became
// readable waiting for the runtime's background poll, while a Budget lets
// it in within a Slice: the busy loop gets far fewer units of work done
// per client round trip with the Budget.
func TestBudgetLetsTheNetworkIn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var y Budget
	withBudget := roundTrips(t, y.Check)
	withGosched := roundTrips(t, runtime.Gosched)
	t.Logf("units of work per round trip: %.1f with a Budget, %.1f with runtime.Gosched", withBudget, withGosched)
	if withBudget*2 > withGosched {
		t.Fatalf("a Budget let the network in no sooner than runtime.Gosched: %.1f against %.1f units per round trip", withBudget, withGosched)
	}
}
