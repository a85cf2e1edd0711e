package acl

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Passwords are stored as "sha256$<salt>$<digest>" (hex), the digest being
// SHA-256(salt || password) with a random 16-byte salt.
//
// Why a salted SHA-256 and not a slow KDF (bcrypt, scrypt, argon2): every
// client connection authenticates, and a cluster client opens one connection
// per data server and more after every failover; a KDF tuned to tens of
// milliseconds would make a reconnect storm a CPU storm on every data server,
// and let anyone who can reach the port burn CPU with wrong passwords. Redis
// makes the same choice (SHA-256 in ACL SETUSER >pass). The salt keeps equal
// passwords from having equal hashes and defeats precomputed tables; what
// protects the passwords themselves is that they are long and random
// (generated secrets for services, not words people remember), which the
// docs ask for. Hashes never leave the config servers except in heartbeat
// replies to data servers, and never appear in API listings or logs.
const (
	hashScheme = "sha256"
	saltLen    = 16
)

// HashPassword returns the stored form of pass with a fresh salt.
func HashPassword(pass string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	sum := digest(salt, []byte(pass))
	return hashScheme + "$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(sum[:]), nil
}

// ValidHash reports whether stored has HashPassword's form.
func ValidHash(stored string) bool {
	_, _, err := parseHash(stored)
	return err == nil
}

func digest(salt, pass []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(pass)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// parseHash splits a stored hash into its salt and digest.
func parseHash(stored string) (salt []byte, sum [sha256.Size]byte, err error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != hashScheme {
		return nil, sum, fmt.Errorf("password hash: want %s$<salt>$<digest>", hashScheme)
	}
	salt, err = hex.DecodeString(parts[1])
	if err != nil || len(salt) < 8 {
		return nil, sum, fmt.Errorf("password hash: bad salt")
	}
	d, err := hex.DecodeString(parts[2])
	if err != nil || len(d) != sha256.Size {
		return nil, sum, fmt.Errorf("password hash: bad digest")
	}
	copy(sum[:], d)
	return salt, sum, nil
}

// secret is a parsed password hash; the zero value matches no password.
type secret struct {
	salt []byte
	sum  [sha256.Size]byte
}

// matches compares in constant time.
func (s *secret) matches(pass []byte) bool {
	if s.salt == nil {
		return false
	}
	got := digest(s.salt, pass)
	return subtle.ConstantTimeCompare(got[:], s.sum[:]) == 1
}
