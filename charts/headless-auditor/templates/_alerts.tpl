{{/*
The alert rules: the one source of truth. Rendered into the PrometheusRule (prometheusRule.enabled),
into a ConfigMap holding a plain Prometheus rule file (rulesConfigMap.enabled), and by
hack/manifests.sh into deploy/prometheus/rules.yaml. Each alert can be disabled, and its `for`
and severity overridden, under prometheusRule.alerts.<name>.

`for` windows start long enough that a normal rollout never pages: a change is reported only
after the grace window (5 s of slack plus the Corefile's cache time, 35 s at most on kubeadm)
and confirmed by the next audit, so 5 minutes of a False condition is never a rollout.
*/}}
{{- define "headless-auditor.alertRules" -}}
{{- $p := .Values.prometheusRule -}}
{{- $selector := $p.scrapeSelector | default (printf "job=%q" (include "headless-auditor.fullname" .)) -}}
{{- $a := $p.alerts -}}
{{- $base := trimSuffix "/" $p.runbookBaseURL -}}
groups:
  - name: headless-auditor
    rules:
{{- with $a.HeadlessServiceDNSInconsistent }}{{ if .enabled }}
      - alert: HeadlessServiceDNSInconsistent
        expr: max by (namespace, service) (headless_auditor_service_condition{condition="DNSConsistent", status="False"}) == 1
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: CoreDNS answers wrong records for headless Service {{ "{{ $labels.namespace }}/{{ $labels.service }}" }}.
          description: >-
            At least one CoreDNS replica answers records for {{ "{{ $labels.namespace }}/{{ $labels.service }}" }}
            that its EndpointSlices do not imply, or lacks records they do, for longer than the
            grace window. `kubectl get svc {{ "{{ $labels.service }}" }} -n {{ "{{ $labels.namespace }}" }} -o yaml`
            shows the DNSConsistent condition naming the server and the records.
          runbook_url: {{ $base }}/HeadlessServiceDNSInconsistent.md
{{- end }}{{ end }}
{{- with $a.HeadlessServiceConfigurationInvalid }}{{ if .enabled }}
      - alert: HeadlessServiceConfigurationInvalid
        expr: max by (namespace, service) (headless_auditor_service_condition{condition="ConfigurationValid", status="False"}) == 1
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: Headless Service {{ "{{ $labels.namespace }}/{{ $labels.service }}" }} is misconfigured.
          description: >-
            headless-auditor found a misconfiguration that breaks or misleads headless DNS for
            {{ "{{ $labels.namespace }}/{{ $labels.service }}" }} (for example the ineffective
            tolerate-unready-endpoints annotation, or a StatefulSet whose serviceName names a
            non-headless Service). The ConfigurationValid condition says what to change.
          runbook_url: {{ $base }}/HeadlessServiceConfigurationInvalid.md
{{- end }}{{ end }}
{{- with $a.CoreDNSReplicasDisagree }}{{ if .enabled }}
      - alert: CoreDNSReplicasDisagree
        expr: max by (namespace, service) (headless_auditor_service_server_disagreements) > 0
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: CoreDNS replicas give different answers for {{ "{{ $labels.namespace }}/{{ $labels.service }}" }}.
          description: >-
            {{ "{{ $value }}" }} question(s) about {{ "{{ $labels.namespace }}/{{ $labels.service }}" }} get different
            answers from different CoreDNS replicas: clients see different records depending on
            the replica kube-proxy picks. One replica is usually stale or misconfigured.
          runbook_url: {{ $base }}/CoreDNSReplicasDisagree.md
{{- end }}{{ end }}
{{- with $a.HeadlessAuditorDNSQueriesFailing }}{{ if .enabled }}
      - alert: HeadlessAuditorDNSQueriesFailing
        expr: |-
          sum by (server) (rate(headless_auditor_dns_query_errors_total[5m]))
            / sum by (server) (rate(headless_auditor_dns_query_duration_seconds_count[5m])) > {{ $p.queryFailureRatio }}
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: DNS server {{ "{{ $labels.server }}" }} fails {{ "{{ $value | humanizePercentage }}" }} of the auditor's queries.
          description: >-
            Questions to {{ "{{ $labels.server }}" }} time out, are refused or get SERVFAIL. The audit
            of every headless Service is Unknown for that server; clients using it likely fail too.
          runbook_url: {{ $base }}/HeadlessAuditorDNSQueriesFailing.md
{{- end }}{{ end }}
{{- with $a.HeadlessAuditorAuditsStale }}{{ if .enabled }}
      - alert: HeadlessAuditorAuditsStale
        expr: time() - max(headless_auditor_last_sweep_timestamp_seconds) > {{ $p.staleAfterSeconds }}
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: headless-auditor has not finished a sweep for {{ "{{ $value | humanizeDuration }}" }}.
          description: >-
            The periodic sweep re-audits every headless Service; none finished recently, so the
            conditions and reports may be stale. The operator may be stuck or overloaded.
          runbook_url: {{ $base }}/HeadlessAuditorAuditsStale.md
{{- end }}{{ end }}
{{- with $a.HeadlessAuditorAbsent }}{{ if .enabled }}
      - alert: HeadlessAuditorAbsent
        expr: absent(up{ {{- $selector -}} } == 1)
        for: {{ .for }}
        labels:
          severity: {{ .severity }}
        annotations:
          summary: headless-auditor is not being scraped.
          description: >-
            Prometheus has no healthy scrape target matching {{ $selector }}: the operator
            is down, or not scraped. Nothing audits headless DNS meanwhile.
          runbook_url: {{ $base }}/HeadlessAuditorAbsent.md
{{- end }}{{ end }}
{{- end -}}
