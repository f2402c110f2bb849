/**
 * The page's camera: "Camera" starts a getUserMedia video preview, "capture" takes the current
 * frame as an image and hands it to the page (to classify, or to a teach class chosen in the
 * "captures go to" list), "stop" ends the preview. No camera, a denied permission or a page
 * that may not use one gets a one-line message saying what to do.
 */
import type { RgbImage } from '../data/transforms.js';
import { pixelsOf } from './decode.js';

/** Where a capture goes: "classify", or the index of a teach class (as a string, a <select>'s value). */
export type CaptureTarget = string;

/** The value of the "captures go to" option that classifies the frame. */
export const CLASSIFY_TARGET: CaptureTarget = 'classify';

/** What the page gets told about each capture. */
export type CaptureHandler = (image: RgbImage, target: CaptureTarget) => void | Promise<void>;

/** Messages by the DOMException name getUserMedia rejects with. */
const CAMERA_ERRORS: Readonly<Record<string, string>> = {
  NotAllowedError: 'camera permission denied: allow the camera for this page (the icon in the address bar), then press Camera again',
  SecurityError: 'camera permission denied: allow the camera for this page (the icon in the address bar), then press Camera again',
  NotFoundError: 'no camera found: connect one and press Camera again, or pick image files instead',
  OverconstrainedError: 'no camera found: connect one and press Camera again, or pick image files instead',
  NotReadableError: 'the camera could not be started (another program may be using it): close that program and press Camera again',
};

/** What the page says when the browser offers no getUserMedia (a page that is not https:// or localhost). */
export const NO_CAMERA_API = 'this browser offers no camera to this page: cameras need an https:// or http://localhost address (node serve.mjs serves one)';

/**
 * The one line the page shows when the camera cannot start.
 *
 * @example
 * cameraErrorMessage(new DOMException('denied', 'NotAllowedError')).startsWith('camera permission denied'); // → true
 */
export function cameraErrorMessage(error: unknown): string {
  const name = error instanceof Error ? error.name : '';
  return CAMERA_ERRORS[name] ?? `the camera could not be started: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
}

/** The page's elements the camera uses, by id. */
export interface CameraElements {
  readonly start: HTMLButtonElement;
  readonly capture: HTMLButtonElement;
  readonly stop: HTMLButtonElement;
  readonly target: HTMLSelectElement;
  readonly controls: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly status: HTMLElement;
}

/** The camera panel: wires its buttons and hands every captured frame to `onCapture`. */
export class CameraPanel {
  private stream: MediaStream | null = null;

  constructor(
    private readonly els: CameraElements,
    private readonly onCapture: CaptureHandler,
  ) {
    els.start.addEventListener('click', () => void this.start());
    els.capture.addEventListener('click', () => void this.capture());
    els.stop.addEventListener('click', () => this.stop());
  }

  /** Adds a place captures can go to (a teach class), `value` being what the handler receives. */
  addTarget(label: string, value: CaptureTarget): void {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    this.els.target.append(option);
  }

  async start(): Promise<void> {
    const { status, video } = this.els;
    status.className = '';
    if (this.stream) return;
    if (!navigator.mediaDevices?.getUserMedia) return this.fail(NO_CAMERA_API);
    status.textContent = 'starting the camera…';
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      video.srcObject = this.stream;
      video.hidden = false;
      await video.play();
    } catch (e) {
      this.stop();
      return this.fail(cameraErrorMessage(e));
    }
    this.els.controls.hidden = false;
    status.textContent = `camera on (${video.videoWidth}×${video.videoHeight})`;
  }

  /** Takes the frame the preview shows now and hands it on. */
  async capture(): Promise<void> {
    const { video } = this.els;
    if (!this.stream || !video.videoWidth) return this.fail('press Camera first: there is no picture to capture yet');
    await this.onCapture(pixelsOf(video, video.videoWidth, video.videoHeight), this.els.target.value);
  }

  stop(): void {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.els.video.srcObject = null;
    this.els.video.hidden = true;
    this.els.controls.hidden = true;
    this.els.status.textContent = '';
  }

  private fail(message: string): void {
    this.els.status.textContent = message;
    this.els.status.className = 'error';
  }
}
