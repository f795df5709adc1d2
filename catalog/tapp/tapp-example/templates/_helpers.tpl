{{/*
Shared helpers of the tapp-example chart. Every name is prefixed with "tapp-example." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "tapp-example.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "tapp-example.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- tpl .Values.fullnameOverride . | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", for charts with several components. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "tapp-example.componentName" -}}
{{- printf "%s-%s" (include "tapp-example.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "tapp-example.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "tapp-example.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tapp-example.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "tapp-example.labels" -}}
helm.sh/chart: {{ include "tapp-example.chart" .ctx }}
{{ include "tapp-example.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "tapp-example.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "tapp-example.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "tapp-example.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "tapp-example.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tapp-example.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "tapp-example.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "tapp-example.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "tapp-example.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "tapp-example.storageClass" -}}
{{- $sc := .persistence.storageClass | default .ctx.Values.global.storageClass -}}
{{- if $sc -}}
{{- if eq $sc "-" -}}
storageClassName: ""
{{- else -}}
storageClassName: {{ $sc | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* PVC spec body. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "tapp-example.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "tapp-example.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "tapp-example.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Render a value that may contain template expressions. Takes (dict "ctx" $ "value" x). */}}
{{- define "tapp-example.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/*
A core/v1 PodTemplateSpec for the TApp. Takes (dict "ctx" $ "override" <templatePool entry or empty dict>):
the override may replace the image tag, add env vars and replace resources.
*/}}
{{- define "tapp-example.podTemplate" -}}
{{- $ctx := .ctx -}}
{{- $o := .override -}}
{{- $image := $ctx.Values.image -}}
{{- with index $o "imageTag" }}{{ $image = merge (dict "tag" .) $ctx.Values.image }}{{ end -}}
metadata:
  labels:
    {{- include "tapp-example.labels" (dict "ctx" $ctx "component" "web") | nindent 4 }}
    {{- with $ctx.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $ctx.Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "tapp-example.serviceAccountName" $ctx }}
  automountServiceAccountToken: {{ $ctx.Values.serviceAccount.automountServiceAccountToken }}
  {{- with include "tapp-example.imagePullSecrets" $ctx | trim }}{{ . | nindent 2 }}{{ end }}
  {{- with include "tapp-example.podSecurityContext" $ctx | trim }}{{ . | nindent 2 }}{{ end }}
  {{- with include "tapp-example.scheduling" $ctx.Values | trim }}{{ . | nindent 2 }}{{ end }}
  containers:
    - name: nginx
      image: {{ include "tapp-example.image" (dict "ctx" $ctx "image" $image) }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      env:
        - name: TAPP_TEMPLATE
          value: {{ index $o "name" | default "default" | quote }}
        {{- with index $o "env" }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $ctx.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: 8080
      {{- with include "tapp-example.probe" (dict "name" "livenessProbe" "probe" $ctx.Values.livenessProbe "handler" (dict "httpGet" (dict "path" "/" "port" "http"))) | trim }}{{ . | nindent 6 }}{{ end }}
      {{- with include "tapp-example.probe" (dict "name" "readinessProbe" "probe" $ctx.Values.readinessProbe "handler" (dict "httpGet" (dict "path" "/" "port" "http"))) | trim }}{{ . | nindent 6 }}{{ end }}
      resources:
        {{- toYaml (index $o "resources" | default $ctx.Values.resources) | nindent 8 }}
      {{- with include "tapp-example.containerSecurityContext" $ctx | trim }}{{ . | nindent 6 }}{{ end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: /data
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if not $ctx.Values.persistence.enabled }}
    - name: data
      emptyDir: {}
    {{- end }}
{{- end -}}
