"""The edge OTA agent: the node-local upgrade API of DESIGN §2 (`GET /pods`, `POST …/upgrade`,
`POST …/imagepull`), served on loopback, acting only on its own node's DaemonSet pods."""
