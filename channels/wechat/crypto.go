package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Signature is WeChat's callback signature: the lowercase hex SHA-1 of the given parts
// (token, timestamp, nonce, and in safe mode the Encrypt value) sorted and concatenated.
func Signature(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// validSignature compares a received signature with the expected one in constant time,
// so the comparison leaks nothing about how much of a forged signature was right.
func validSignature(got string, parts ...string) bool {
	want := Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

// blockSize is the PKCS#7 block WeChat pads to: 32 bytes, not AES's 16.
const blockSize = 32

// Errors of the encrypted envelope. They say what was wrong, never the key.
var (
	errBadCiphertext = errors.New("wechat: encrypted message is not valid base64 AES-CBC")
	errBadPadding    = errors.New("wechat: encrypted message has bad padding")
	errBadLayout     = errors.New("wechat: decrypted message has a bad length field")
	errWrongAppID    = errors.New("wechat: encrypted message is for another app id")
)

// Cipher encrypts and decrypts safe-mode messages of one account: AES-256-CBC with the
// IV taken from the key, plaintext random(16) ‖ uint32 BE length ‖ message ‖ app id,
// padded PKCS#7 to a multiple of 32.
type Cipher struct {
	block cipher.Block
	iv    []byte
	appID string
}

// NewCipher reads the 43-character EncodingAESKey of the WeChat console. appID is the
// account's AppID (for WeCom: the CorpID), which every message carries at its end.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if len(encodingAESKey) != 43 || err != nil || len(key) != 32 {
		return nil, errors.New("wechat: encoding_aes_key must be the 43-character key from the console")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechat: aes key: %w", err)
	}
	return &Cipher{block: block, iv: key[:16], appID: appID}, nil
}

// Encrypt returns the base64 ciphertext of msg.
func (c *Cipher) Encrypt(msg []byte) string {
	plain := make([]byte, 0, 20+len(msg)+len(c.appID)+blockSize)
	var random [16]byte
	_, _ = rand.Read(random[:]) // crypto/rand.Read never fails on supported platforms
	plain = append(plain, random[:]...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.appID...)
	pad := blockSize - len(plain)%blockSize
	for i := 0; i < pad; i++ {
		plain = append(plain, byte(pad))
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

// Decrypt checks and opens a base64 ciphertext. The caller verifies msg_signature first:
// the signature covers the ciphertext, so nobody without the token can probe the padding.
func (c *Cipher) Decrypt(encrypted string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encrypted))
	if err != nil || len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, errBadCiphertext
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, errBadPadding
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, errBadPadding
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, errBadLayout
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, errBadLayout
	}
	msg, appID := plain[20:20+n], plain[20+n:]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, errWrongAppID
	}
	return msg, nil
}
