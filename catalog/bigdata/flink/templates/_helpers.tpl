{{/*
Shared helpers of the flink chart. Every name is prefixed with "flink." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "flink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "flink.fullname" -}}
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
{{- define "flink.componentName" -}}
{{- printf "%s-%s" (include "flink.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "flink.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "flink.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flink.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "flink.labels" -}}
helm.sh/chart: {{ include "flink.chart" .ctx }}
{{ include "flink.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "flink.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "flink.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "flink.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "flink.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flink.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "flink.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "flink.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "flink.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "flink.storageClass" -}}
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
{{- define "flink.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "flink.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "flink.scheduling" -}}
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
{{- define "flink.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/* HDFS URI: hdfs.uri, else global.hdfs.uri (both may contain template expressions). */}}
{{- define "flink.hdfsUri" -}}
{{- include "flink.tplValue" (dict "ctx" . "value" (.Values.hdfs.uri | default (dig "hdfs" "uri" "" .Values.global))) | trimSuffix "/" -}}
{{- end -}}

{{/* Kafka bootstrap servers: kafka.bootstrapServers, else global.kafka.bootstrapServers. */}}
{{- define "flink.kafkaBootstrap" -}}
{{- include "flink.tplValue" (dict "ctx" . "value" (.Values.kafka.bootstrapServers | default (dig "kafka" "bootstrapServers" "" .Values.global))) -}}
{{- end -}}

{{/* Name of the JobManager service (also jobmanager.rpc.address). */}}
{{- define "flink.jobmanagerName" -}}
{{- include "flink.componentName" (dict "ctx" . "component" "jobmanager") -}}
{{- end -}}

{{/*
FLINK_PROPERTIES shared by both components. The image entrypoint strips all
whitespace from each line and expands ${VARS}, so values must not contain spaces.
*/}}
{{- define "flink.properties" -}}
{{- $hdfs := include "flink.hdfsUri" . -}}
{{- $conf := dict
  "jobmanager.rpc.port" "6123"
  "blob.server.port" "6124"
  "rest.port" (toString .Values.jobmanager.service.restPort)
  "taskmanager.rpc.port" "6122"
  "taskmanager.numberOfTaskSlots" (toString .Values.taskmanager.numberOfTaskSlots)
  "jobmanager.memory.process.size" .Values.jobmanager.memoryProcessSize
  "taskmanager.memory.process.size" .Values.taskmanager.memoryProcessSize
  "web.upload.dir" "/opt/flink/data/uploads"
-}}
{{- $checkpoints := .Values.checkpoints.dir | default (ternary (printf "%s/flink/checkpoints" $hdfs) "" (ne $hdfs "")) -}}
{{- $savepoints := .Values.checkpoints.savepointsDir | default (ternary (printf "%s/flink/savepoints" $hdfs) "" (ne $hdfs "")) -}}
{{- with $checkpoints }}{{ $_ := set $conf "state.checkpoints.dir" . }}{{ end -}}
{{- with $savepoints }}{{ $_ := set $conf "state.savepoints.dir" . }}{{ end -}}
{{- $conf = merge (deepCopy .Values.flinkConfiguration) $conf -}}
{{- range $key, $value := $conf }}
{{ $key }}: {{ $value }}
{{- end }}
{{- end -}}

{{/* Environment shared by both components. */}}
{{- define "flink.commonEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: JOB_MANAGER_RPC_ADDRESS
  value: {{ include "flink.jobmanagerName" . | quote }}
{{- if include "flink.hdfsUri" . }}
- name: HADOOP_CLASSPATH
  value: "/opt/hadoop-libs/common/*:/opt/hadoop-libs/common/lib/*:/opt/hadoop-libs/hdfs/*:/opt/hadoop-libs/hdfs/lib/*"
{{- end }}
{{- with (include "flink.kafkaBootstrap" .) }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Init container copying the Hadoop client jars when HDFS is configured. */}}
{{- define "flink.hadoopInit" -}}
{{- if include "flink.hdfsUri" . }}
initContainers:
  - name: hadoop-libs
    image: {{ include "flink.image" (dict "ctx" . "image" .Values.hdfs.hadoopImage) }}
    imagePullPolicy: {{ .Values.hdfs.hadoopImage.pullPolicy }}
    # Flink ships no Hadoop classes; copy the HDFS client jars (without the
    # log4j 1 / slf4j bindings that would clash with Flink's logging).
    command: ["/bin/sh", "-ec"]
    args:
      - |
        cp -r /opt/hadoop/share/hadoop/common /opt/hadoop/share/hadoop/hdfs /opt/hadoop-libs/
        rm -f /opt/hadoop-libs/common/lib/slf4j-* /opt/hadoop-libs/common/lib/reload4j-* /opt/hadoop-libs/hdfs/lib/slf4j-* /opt/hadoop-libs/hdfs/lib/reload4j-*
    resources:
      requests:
        cpu: 50m
        memory: 64Mi
      limits:
        cpu: 500m
        memory: 256Mi
    {{- with include "flink.containerSecurityContext" . | trim }}{{ . | nindent 4 }}{{ end }}
    volumeMounts:
      - name: hadoop-libs
        mountPath: /opt/hadoop-libs
{{- end }}
{{- end -}}
