/** The HAI icon: a chip with a clock hand, drawn with JupyterLab's themeable icon classes. */
import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M9 2h2v3H9zM13 2h2v3h-2zM9 19h2v3H9zM13 19h2v3h-2zM2 9h3v2H2zM2 13h3v2H2zM19 9h3v2h-3zM19 13h3v2h-3z"/>
    <path d="M6 5h12a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm1 2v10h10V7H7z"/>
    <path d="M11 8.5h2V12h2.5v2H11z"/>
  </g>
</svg>`;

export const haiIcon = new LabIcon({ name: 'hai-hub:tasks', svgstr });
