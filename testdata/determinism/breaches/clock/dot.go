package clock

import . "time"

func later() Time {
	Sleep(Second)       // want "wall-clock"
	return Now().Add(1) // want "wall-clock"
}
