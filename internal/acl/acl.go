// Package acl holds the users clients log in as on a data server and what
// each may do: the namespaces it may use and the classes of commands (read,
// write, admin) it may run. Users are defined on the config servers
// (clusterapi.User) and compiled here into a form the command path checks
// without allocating.
package acl

import (
	"fmt"
	"slices"
	"strings"

	"granary/internal/clusterapi"
)

// Class is a set of command classes.
type Class uint8

// Command classes. A command belongs to at most one; commands of no class
// (PING, HELLO, CLUSTER SLOTS, ...) are open to every logged-in user.
const (
	Read  Class = 1 << iota // reads keys of the current namespace
	Write                   // changes keys of the current namespace
	Admin                   // administers the server or sees past one namespace
)

var classNames = []struct {
	c    Class
	name string
}{{Read, clusterapi.ClassRead}, {Write, clusterapi.ClassWrite}, {Admin, clusterapi.ClassAdmin}}

// ParseClasses parses class names ("read", "write", "admin"; "all" for every
// one).
func ParseClasses(names []string) (Class, error) {
	var out Class
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "all" {
			out |= Read | Write | Admin
			continue
		}
		c := classByName(n)
		if c == 0 {
			return 0, fmt.Errorf("command class %q: want read, write, admin or all", n)
		}
		out |= c
	}
	return out, nil
}

func classByName(n string) Class {
	for _, cn := range classNames {
		if cn.name == n {
			return cn.c
		}
	}
	return 0
}

// Names returns the classes' names in a fixed order.
func (c Class) Names() []string {
	out := []string{}
	for _, cn := range classNames {
		if c&cn.c != 0 {
			out = append(out, cn.name)
		}
	}
	return out
}

// nsSet is a set of namespace ids (8 KB; held only by users with a list).
type nsSet [65536 / 64]uint64

// User is a compiled user. It is immutable: a change makes a new Users.
type User struct {
	Name     string
	Default  uint16 // namespace selected at login
	Disabled bool
	classes  Class
	all      bool   // every namespace
	ns       *nsSet // nil: none (unless all)
	pass     secret
}

// Allows reports whether the user may run commands of class c (0: classless
// commands, always allowed).
func (u *User) Allows(c Class) bool { return u.classes&c == c }

// CanUse reports whether the user may use namespace id.
func (u *User) CanUse(id uint16) bool {
	return u.all || (u.ns != nil && u.ns[id>>6]&(1<<(id&63)) != 0)
}

// CheckPassword reports whether pass is the user's password.
func (u *User) CheckPassword(pass []byte) bool { return u.pass.matches(pass) }

// Users is an immutable set of users, replaced whole on every change.
type Users struct {
	Version uint64
	byName  map[string]*User
}

// Lookup returns the user called name, or nil.
func (us *Users) Lookup(name []byte) *User {
	if us == nil {
		return nil
	}
	return us.byName[string(name)] // no allocation for a map index by string(bytes)
}

// LookupString is Lookup for a name held as a string.
func (us *Users) LookupString(name string) *User {
	if us == nil {
		return nil
	}
	return us.byName[name]
}

// Decoy is a user no password matches. A login as an unknown user checks the
// password against it, so that the time it takes does not tell which user
// names exist.
var Decoy = &User{Name: "decoy", pass: secret{salt: make([]byte, saltLen)}}

// Len returns the number of users.
func (us *Users) Len() int {
	if us == nil {
		return 0
	}
	return len(us.byName)
}

// Compile builds the set from the config servers' definitions. A definition
// that does not compile (which the config servers' validation rules out) is
// left out and reported in the error; the others are kept.
func Compile(defs []clusterapi.User, version uint64) (*Users, error) {
	us := &Users{Version: version, byName: make(map[string]*User, len(defs))}
	var errs []string
	for _, d := range defs {
		u, err := compile(d)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		us.byName[u.Name] = u
	}
	if errs != nil {
		return us, fmt.Errorf("users left out: %s", strings.Join(errs, "; "))
	}
	return us, nil
}

func compile(d clusterapi.User) (*User, error) {
	if err := Validate(&d, true); err != nil {
		return nil, err
	}
	u := &User{Name: d.Name, Default: d.DefaultNamespace, Disabled: d.Disabled, all: d.AllNamespaces}
	u.classes, _ = ParseClasses(d.Commands) // checked by Validate
	if !u.all && len(d.Namespaces) > 0 {
		u.ns = &nsSet{}
		for _, id := range d.Namespaces {
			u.ns[id>>6] |= 1 << (id & 63)
		}
	}
	u.pass.salt, u.pass.sum, _ = parseHash(d.Hash) // checked by Validate
	return u, nil
}

// DefaultUser is the name of the user of --requirepass; it cannot be defined.
const DefaultUser = "default"

// Validate checks a definition on its own. With stored, the password must be
// a hash (as replicated); otherwise it may be a plaintext Password still to
// be hashed, or neither (an update keeping the old password).
func Validate(d *clusterapi.User, stored bool) error {
	if !validName(d.Name) {
		return fmt.Errorf("user name %q: want 1 to 64 letters, digits, '_', '.', '@' or '-'", d.Name)
	}
	if d.Name == DefaultUser {
		return fmt.Errorf("user name %q is reserved for the --requirepass password", d.Name)
	}
	if _, err := ParseClasses(d.Commands); err != nil {
		return fmt.Errorf("user %q: %w", d.Name, err)
	}
	if !d.AllNamespaces && len(d.Namespaces) > 0 && !slices.Contains(d.Namespaces, d.DefaultNamespace) {
		return fmt.Errorf("user %q: default namespace %d is not one of its namespaces %v", d.Name, d.DefaultNamespace, d.Namespaces)
	}
	if stored {
		if _, _, err := parseHash(d.Hash); err != nil {
			return fmt.Errorf("user %q: %w", d.Name, err)
		}
	} else if d.Hash != "" {
		return fmt.Errorf("user %q: give a password, not a hash", d.Name)
	}
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '@', r == '-':
		default:
			return false
		}
	}
	return true
}
