// Package concurrency uses goroutines, channels and select.
package concurrency

type pipe struct {
	in  chan []byte   // want "channel"
	out <-chan []byte // want "channel"
}

func start(p *pipe, work func()) {
	go work()   // want "go-statement"
	go func() { // want "go-statement"
		p.in <- nil // want "channel"
	}()
	ch := make(chan int, 1) // want "channel"
	ch <- 1                 // want "channel"
	_ = <-ch                // want "channel"
	select {                // want "select"
	case v := <-p.out: // want "channel"
		_ = v
	default:
	}
	close(ch)              // want "channel"
	for v := range p.out { // want "channel"
		_ = v
	}
}

// drain ranges over a channel whose type is spelled elsewhere.
func drain(p pipe) (n int) {
	for range p.in { // want "channel"
		n++
	}
	return n
}
