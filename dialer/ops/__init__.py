"""Service operations: the systemd notify protocol and watchdog, the daemon lock, file permissions,
Prometheus metrics, and consistent backups of the database. Each module has one job."""
