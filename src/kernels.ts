/**
 * New haienv environments show up as kernels without a reload: JupyterLab itself asks for
 * the kernel specs only about once a minute, so while the page is visible this asks every
 * few seconds (the server answers from its cache, ~7 ms, unless an env changed).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

/** How often the kernel specs are read again while the page is visible. */
export const KERNELSPEC_REFRESH_MS = 3000;

export const kernelsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'hai-hub:kernelspecs',
  description:
    'Refreshes the kernel list every few seconds, so new haienv kernels appear.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    const specs = app.serviceManager.kernelspecs;
    const refresh = () => {
      if (!document.hidden) {
        void specs.refreshSpecs().catch(() => undefined);
      }
    };
    void app.restored.then(() =>
      window.setInterval(refresh, KERNELSPEC_REFRESH_MS)
    );
  }
};
