package node

import "github.com/annal-db/annal/core/member"

// DatabaseID identifies the database the node's log holds: the id of the
// first epoch written to it. Every node of a cluster replicates that
// record, so they all report the same id, and a wiped and recreated
// database gets a new random one. ok is false until the log has an epoch
// (a new database before its first election). Call it on the node's loop.
func (n *Node) DatabaseID() (id member.ID, ok bool) {
	if len(n.st.epochs) == 0 {
		return member.ID{}, false
	}
	return n.st.epochs[0].ID, true
}
