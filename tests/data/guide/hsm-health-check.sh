#!/bin/bash
# hsm-health-check.sh

HSM_LIB="@HSM_LIB@"
ALERT_EMAIL="security@example.com"

check_hsm_status() {
    local status=$(pkcs11-tokens -m ${HSM_LIB} 2>&1)
    if echo "$status" | grep -q "Token present"; then
        echo "HSM Status: OK"
        return 0
    else
        echo "HSM Status: FAILED"
        return 1
    fi
}

check_key_count() {
    local expected=$1
    local count=$(pkcs11-list -m ${HSM_LIB} -s @SLOT@ 2>&1 | grep -c "Private Key")
    if [ "$count" -ge "$expected" ]; then
        echo "Key Count: OK ($count keys)"
        return 0
    else
        echo "Key Count: WARNING (expected $expected, found $count)"
        return 1
    fi
}

check_session() {
    local result=$(pkcs11-tool --module ${HSM_LIB} --slot @SLOT@ --login --pin env:HSM_PIN --list-objects 2>&1)
    if echo "$result" | grep -q "error"; then
        echo "Session: FAILED"
        return 1
    else
        echo "Session: OK"
        return 0
    fi
}

# Run checks
echo "=========================================="
echo "HSM Health Check - $(date)"
echo "=========================================="

ERRORS=0

check_hsm_status || ((ERRORS++))
check_key_count 4 || ((ERRORS++))  # Expect at least 4 keys (2 KSK + 2 ZSK)
check_session || ((ERRORS++))

if [ $ERRORS -gt 0 ]; then
    echo "=========================================="
    echo "ALERT: $ERRORS check(s) failed"
    echo "=========================================="

    # Send alert
    echo "HSM health check failed with $ERRORS errors" | \
      mail -s "HSM Alert: Health Check Failed" ${ALERT_EMAIL}

    exit 1
fi

echo "=========================================="
echo "All checks passed"
echo "=========================================="
exit 0
