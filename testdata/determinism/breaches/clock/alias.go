package clock

import t "time"

func stamp() t.Time {
	return t.Now() // want "wall-clock"
}
