"""Published Sigstore bundles (v0.3, the format cosign 3 writes), copied byte for byte from
sigstore/sigstore-python's test assets, for checking that harborlite reads and verifies
bundles as Sigstore's clients write them, not merely as this repository's test signer does.

- DSSE_*: ``test/assets/a.dsse.staging-rekor-v2.txt.sigstore.json`` (a DSSE envelope over an
  in-toto statement about ``a.txt``), its leaf certificate, payload and signature;
- MESSAGE_*: ``test/assets/bundle.txt.ec_sig.sigstore`` (a ``messageSignature``: ECDSA P-256
  over a SHA2_256 message digest), its leaf certificate, digest and signature.

Only the fields a key-based verification reads are kept (the transparency-log and timestamp
entries are left out: harborlite verifies against trusted keys, offline).
"""

from __future__ import annotations

DSSE_CERTIFICATE = (
    "MIIDBDCCAoqgAwIBAgIUYlZafqye+P/bWSMSdvxrr7y+NUEwCgYIKoZIzj0EAwMwNzEVMBMGA1UEChMMc2lnc3RvcmUu"
    "ZGV2MR4wHAYDVQQDExVzaWdzdG9yZS1pbnRlcm1lZGlhdGUwHhcNMjUwNjA5MjEwNjI1WhcNMjUwNjA5MjExNjI1WjAA"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwDj9XB2rrkUTaCgPE3OGPJ+176EZM3u2SK2XLKoMUQn79zywhocahVPy"
    "bzn/6nMkWkew8SFaDhkL4PCAENNzcqOCAakwggGlMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAd"
    "BgNVHQ4EFgQUQ/OiAAk5AAqjN5apYfVwt/M4S5UwHwYDVR0jBBgwFoAUcYYwphR8Ym/599b0BRp/X//rb6wwWQYDVR0R"
    "AQH/BE8wTYFLaW5zZWN1cmUtY2xvdWR0b3Atc2hhcmVkLXVzZXJAY2xvdWR0b3AtcHJvZC11cy1lYXN0LmlhbS5nc2Vy"
    "dmljZWFjY291bnQuY29tMCkGCisGAQQBg78wAQEEG2h0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbTArBgorBgEEAYO/"
    "MAEIBB0MG2h0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbTCBigYKKwYBBAHWeQIEAgR8BHoAeAB2ACswvNxoiMni4dgm"
    "KV50H0g5MZYC8pwzy15DQP6yrIZ6AAABl1aEEo4AAAQDAEcwRQIhAJzFA8xqE8owuQqk9ao7NLQy/YoTsy23A+ZU3cdL"
    "+MM1AiAZyN3FSWf13Fl3oL+P5jAvv0xRyqGrWEyZJw4KO7XhnDAKBggqhkjOPQQDAwNoADBlAjA9OgkRsqwLbt59TB0J"
    "b15NBBQiaNBRRqUdo2FuSrvEWWDnnynmqo0GygnbCmz2CJwCMQDFCWJExAUGX7v5UQUzDz1pc1b0WvX1wAP2fhbgir2y"
    "ZZRcsr4OdWz31arOo6USvVI="
)
DSSE_PAYLOAD = (
    "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJuYW1lIjoiYS50eHQi"
    "LCJkaWdlc3QiOnsic2hhMjU2IjoiZTI0OGE1ZGI0OTMzZGJhNjU3ODIwMDIzOGM5MWE1N2Y1ZTY1YjkyNWI3MzA1MGFl"
    "Nzg2OTMzNDY4YjdhYzEwMSJ9fV0sInByZWRpY2F0ZVR5cGUiOiJodHRwczovL3Nsc2EuZGV2L3Byb3ZlbmFuY2UvdjEi"
    "LCJwcmVkaWNhdGUiOnsiYnVpbGREZWZpbml0aW9uIjp7ImJ1aWxkVHlwZSI6Imh0dHBzOi8vYWN0aW9ucy5naXRodWIu"
    "aW8vYnVpbGR0eXBlcy93b3JrZmxvdy92MSIsImV4dGVybmFsUGFyYW1ldGVycyI6eyJ3b3JrZmxvdyI6eyJyZWYiOiJy"
    "ZWZzL3RhZ3MvMS4yMS4wIiwicmVwb3NpdG9yeSI6Imh0dHBzOi8vZ2l0aHViLmNvbS9vY3RvLW9yZy9vY3RvLXJlcG8i"
    "LCJwYXRoIjoiLmdpdGh1Yi93b3JrZmxvd3MvY2kueWFtbCJ9fSwiaW50ZXJuYWxQYXJhbWV0ZXJzIjp7ImdpdGh1YiI6"
    "eyJldmVudF9uYW1lIjoicHVzaCIsInJlcG9zaXRvcnlfaWQiOiIwMDAwMDAwMDAiLCJyZXBvc2l0b3J5X293bmVyX2lk"
    "IjoiMDAwMDAwMCIsInJ1bm5lcl9lbnZpcm9ubWVudCI6ImdpdGh1Yi1ob3N0ZWQifX0sInJlc29sdmVkRGVwZW5kZW5j"
    "aWVzIjpbeyJ1cmkiOiJnaXQraHR0cHM6Ly9naXRodWIuY29tL29jdG8tb3JnL29jdG8tcmVwb0ByZWZzL3RhZ3MvMS4y"
    "MS4wIiwiZGlnZXN0Ijp7ImdpdENvbW1pdCI6IjFhYzkzY2UyMWVlNTI2YjM2ZmQxNTRiOTA1OGQ5N2RmYWE0MjRjNTAi"
    "fX1dfSwicnVuRGV0YWlscyI6eyJidWlsZGVyIjp7ImlkIjoiaHR0cHM6Ly9naXRodWIuY29tL29jdG8tb3JnL29jdG8t"
    "cmVwby8uZ2l0aHViL3dvcmtmbG93cy9kb2NrZXIueWFtbEByZWZzL2hlYWRzL2RldmVsb3BtZW50In0sIm1ldGFkYXRh"
    "Ijp7Imludm9jYXRpb25JZCI6Imh0dHBzOi8vZ2l0aHViLmNvbS9vY3RvLW9yZy9vY3RvLXJlcG8vYWN0aW9ucy9ydW5z"
    "LzEwMzEzOTgzMjE4L2F0dGVtcHRzLzIifX19fQ=="
)
DSSE_SIGNATURE = (
    "MEYCIQCqztBBMzbbe7jSz5qP8OwSxJX0EoESHh9wmnEycS7w"
    "KwIhALwPHiktogQcx+xVLXHlINzu25rTS5nXFBw8Kqqzy8fd"
)
DSSE_SUBJECT = "sha256:e248a5db4933dba6578200238c91a57f5e65b925b73050ae786933468b7ac101"

MESSAGE_CERTIFICATE = (
    "MIIDBTCCAougAwIBAgIUDHrJhCWCK2izQkrwdmDAUAvo7wwwCgYIKoZIzj0EAwMwNzEVMBMGA1UEChMMc2lnc3RvcmUu"
    "ZGV2MR4wHAYDVQQDExVzaWdzdG9yZS1pbnRlcm1lZGlhdGUwHhcNMjUwNTEyMjE0OTA2WhcNMjUwNTEyMjE1OTA2WjAA"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1lXAecFnEQdQ7pV7IJZ4WrUkRiqOu6xxylT/uKQZ6KBoeeGWV7IKS3qy"
    "qNuvo1kp58QZyjf3pegGnr7NjBecJKOCAaowggGmMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAd"
    "BgNVHQ4EFgQUzXnrLAOjQTu28nTJU9r4KWmq1bYwHwYDVR0jBBgwFoAU39Ppz1YkEZb5qNjpKFWixi4YZD8wWQYDVR0R"
    "AQH/BE8wTYFLaW5zZWN1cmUtY2xvdWR0b3Atc2hhcmVkLXVzZXJAY2xvdWR0b3AtcHJvZC11cy1lYXN0LmlhbS5nc2Vy"
    "dmljZWFjY291bnQuY29tMCkGCisGAQQBg78wAQEEG2h0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbTArBgorBgEEAYO/"
    "MAEIBB0MG2h0dHBzOi8vYWNjb3VudHMuZ29vZ2xlLmNvbTCBiwYKKwYBBAHWeQIEAgR9BHsAeQB3AN09MGrGxxEyYxke"
    "HJlnNwKiSl643jyt/4eKcoAvKe6OAAABlsZ5FowAAAQDAEgwRgIhAIruqc3Ze+CmmVcjQwceXa6kUBIC1yzMmau+FaKp"
    "RNCBAiEA4NCPhO226EI2wBGuDEJN2GzU6owyDNZ8zcPTweIW9xwwCgYIKoZIzj0EAwMDaAAwZQIxAOF3HAQutLxrw603"
    "2xGmCEQ6/DsRyc7xEpi8PPYkXWrcPgi3TBYk0Tve5Ee0s5ExxwIwO5NIwVT3bJYYerGVqKZ33baU0Zcqr2cOy+bqyIJ/"
    "hWsv4PI8y851Be1tRawQ69fo"
)
MESSAGE_DIGEST = "gC3WD/iDM4AvJYXnMEO9IcNBKF4Zkv5bMXVeHK3q4w4="
MESSAGE_SIGNATURE = (
    "MEUCIHrEWFF6mGETbfqoD8wMsbGMBSDHrS8xUxZfFHEFp1zO"
    "AiEA7B1WEvE4F2pPwRT50svRCs/XovimZ+cuMm+ogHrprMg="
)
