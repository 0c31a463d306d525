#!/bin/bash
# hsm-backup.sh - Export encrypted key backup

BACKUP_DIR="@BACKUP_DIR@"
DATE=$(date +%Y%m%d-%H%M%S)
HSM_LIB="@HSM_LIB@"

# Create backup directory
mkdir -p ${BACKUP_DIR}/${DATE}

# Export wrapped keys (encrypted with HSM backup key)
# Luna HSM specific
@LUNACM@ backup \
  -partition dnssec-production \
  -f ${BACKUP_DIR}/${DATE}/partition-backup.bak

# Generate checksum
sha256sum ${BACKUP_DIR}/${DATE}/partition-backup.bak > \
  ${BACKUP_DIR}/${DATE}/checksum.sha256

# Encrypt backup manifest
cat > ${BACKUP_DIR}/${DATE}/manifest.txt << EOF
Backup Date: $(date)
Partition: dnssec-production
HSM Serial: $(pkcs11-tokens -m ${HSM_LIB} | grep Serial)
Key Count: $(pkcs11-list -m ${HSM_LIB} -s @SLOT@ | grep -c "Private Key")
EOF

# Store off-site (encrypted)
gpg --encrypt --recipient backup@example.com \
  ${BACKUP_DIR}/${DATE}/partition-backup.bak

echo "Backup complete: ${BACKUP_DIR}/${DATE}"
