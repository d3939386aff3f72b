{{/* Names, labels and shared snippets of the hai-hub chart. */}}

{{- define "hai.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hai.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hai.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hai.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{- define "hai.taskNamespace" -}}
{{- .Values.scheduler.taskNamespace | default .Release.Namespace -}}
{{- end -}}

{{- define "hai.userNamespace" -}}
{{- .Values.singleuser.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "hai.secretName" -}}
{{- include "hai.fullname" . -}}
{{- end -}}

{{- define "hai.dbSecretName" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else -}}
{{- include "hai.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The scheduler's URL inside the cluster (the hub proxies /services/hai-scheduler/ to it). */}}
{{- define "hai.schedulerUrl" -}}
{{- printf "http://%s-scheduler.%s.svc:8910" (include "hai.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Where the scheduler serves its Prometheus metrics (under JUPYTERHUB_SERVICE_PREFIX). */}}
{{- define "hai.metricsPath" -}}
/services/hai-scheduler/api/v1/metrics
{{- end -}}

{{- define "hai.pullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
A value of the chart's secret: the one stored by an earlier release (so upgrades keep
passwords and tokens), else the given value, else a random one.
*/}}
{{- define "hai.secretValue" -}}
{{- $secret := lookup "v1" "Secret" .root.Release.Namespace (include "hai.secretName" .root) -}}
{{- if and $secret $secret.data (hasKey $secret.data .key) -}}
{{- index $secret.data .key | b64dec -}}
{{- else if .value -}}
{{- .value -}}
{{- else -}}
{{- randAlphaNum (.length | default 32) -}}
{{- end -}}
{{- end -}}

{{/* Shared storage as pod volumes (list items), for pods that see the users' files. */}}
{{- define "hai.envRootVolume" -}}
{{- with .Values.storage.envRoot }}
{{- if .pvc }}
- name: hai-envs
  persistentVolumeClaim:
    claimName: {{ .pvc }}
{{- else if .hostPath }}
- name: hai-envs
  hostPath:
    path: {{ .hostPath }}
    type: Directory
{{- end }}
{{- end }}
{{- end -}}
